"""Endpoints for agents (not for users): heartbeats, kernel events and usage reports, with the
agent token."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from berth.manager.api.deps import ManagerDep
from berth.manager.services.agents import handle_heartbeat
from berth.manager.services.kernel_events import handle_events
from berth.manager.services.usage_out import samples_in
from berth.rpc import (
    Heartbeat,
    HeartbeatReply,
    KernelEvents,
    M,
    UsageReply,
    UsageReport,
    VersionMismatch,
    parse,
)


async def agent_token(m: ManagerDep, authorization: Annotated[str, Header()] = "") -> None:
    # async: a plain ``def`` dependency would run in FastAPI's thread pool (see get_manager).
    if not secrets.compare_digest(authorization, f"Bearer {m.settings.resolved_agent_token()}"):
        raise HTTPException(401, "agent token required")


router = APIRouter(
    prefix="/api/agent/v1",
    tags=["agent"],
    include_in_schema=False,
    dependencies=[Depends(agent_token)],
)


async def _message(request: Request, model: type[M]) -> M:
    """The agent's message, its RPC version checked before its fields (see berth.rpc)."""
    return _parse(await request.body(), model)


def _parse(body: bytes, model: type[M]) -> M:
    try:
        return parse(model, body)
    except VersionMismatch as e:
        raise HTTPException(400, str(e)) from e
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_input=False)) from e


#: A heartbeat body up to this size (a delta, a small agent) is read on the event loop.
SMALL_BEAT = 64 * 1024


@router.post("/heartbeat")
async def heartbeat(request: Request, m: ManagerDep) -> HeartbeatReply:
    """The agent's beat, full or a delta (:func:`handle_heartbeat`); the reply acknowledges
    the newest beat handled and may ask for a full one."""
    body = await request.body()
    if len(body) <= SMALL_BEAT:
        return await handle_heartbeat(m, _parse(body, Heartbeat))
    # A full beat of thousands of kernels takes tens of ms to read: in a thread, so that the
    # event loop keeps answering meanwhile (the interpreter switches between them).
    return await handle_heartbeat(m, await asyncio.to_thread(_parse, body, Heartbeat))


@router.post("/events", status_code=204)
async def kernel_events(request: Request, m: ManagerDep) -> None:
    """The events an agent gathered since its last post, applied in order
    (:func:`handle_events`)."""
    batch = await _message(request, KernelEvents)
    await handle_events(m, batch.agent_id, batch.events)


@router.post("/usage")
async def usage_report(request: Request, m: ManagerDep) -> UsageReply:
    """One sampling round of an agent, kept in memory (:mod:`.services.live_usage`); the
    reply asks for the whole window of the kernels the manager did not know."""
    report = await _message(request, UsageReport)
    resend = m.live.receive({k: samples_in(v) for k, v in report.kernels.items()},
                            report.interval)
    return UsageReply(resend=resend)
