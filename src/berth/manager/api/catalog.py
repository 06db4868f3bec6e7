"""Images and agents: what can be launched and where."""

from __future__ import annotations

from fastapi import APIRouter

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas import AgentOut, ImageOut
from berth.manager.schemas_admin import AgentUpdate
from berth.manager.services import catalog

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/images")
async def list_images(actor: ActorDep, m: ManagerDep) -> list[ImageOut]:
    """Environment images available on at least one agent."""
    return [ImageOut.model_validate(r) for r in await catalog.list_images(m, actor)]


@router.get("/agents")
async def list_agents(actor: ActorDep, m: ManagerDep) -> list[AgentOut]:
    """Agents of the resource groups you may use (admins: all) with their capacity and what
    is free now."""
    return await catalog.list_agents(m, actor)


@router.patch("/agents/{agent_id}", responses={403: {"description": "Not an admin"},
                                               404: {"description": "No such agent"}})
async def update_agent(agent_id: str, body: AgentUpdate, actor: ActorDep,
                       m: ManagerDep) -> AgentOut:
    """Admins: ``schedulable`` false takes the agent out of scheduling (its running sessions
    stay); ``resource_group`` moves it to another group."""
    return await catalog.update_agent(m, actor, agent_id, body)
