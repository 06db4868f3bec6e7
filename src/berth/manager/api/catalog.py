"""Images and agents: what can be launched and where."""

from __future__ import annotations

from fastapi import APIRouter

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas import AgentOut, ImageOut
from berth.manager.services import catalog

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/images")
async def list_images(actor: ActorDep, m: ManagerDep) -> list[ImageOut]:
    """Environment images available on at least one agent."""
    return [ImageOut.model_validate(r) for r in await catalog.list_images(m, actor)]


@router.get("/agents")
async def list_agents(actor: ActorDep, m: ManagerDep) -> list[AgentOut]:
    """Agents with their capacity and what is free now."""
    return await catalog.list_agents(m)
