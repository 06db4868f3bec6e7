"""Endpoints for agents (not for users): heartbeats and kernel events, with the agent token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException

from berth.manager.api.deps import ManagerDep
from berth.manager.services.agents import handle_event, handle_heartbeat
from berth.rpc import RPC_VERSION, Heartbeat, KernelEvent


def agent_token(m: ManagerDep, authorization: Annotated[str, Header()] = "") -> None:
    if not secrets.compare_digest(authorization, f"Bearer {m.settings.resolved_agent_token()}"):
        raise HTTPException(401, "agent token required")


router = APIRouter(
    prefix="/api/agent/v1",
    tags=["agent"],
    include_in_schema=False,
    dependencies=[Depends(agent_token)],
)


def _version(v: int) -> None:
    if v != RPC_VERSION:
        raise HTTPException(400, f"rpc_version {v} is not supported (need {RPC_VERSION})")


@router.post("/heartbeat", status_code=204)
async def heartbeat(beat: Heartbeat, m: ManagerDep) -> None:
    _version(beat.rpc_version)
    await handle_heartbeat(m, beat)


@router.post("/events", status_code=204)
async def kernel_event(event: KernelEvent, m: ManagerDep) -> None:
    _version(event.rpc_version)
    await handle_event(m, event)
