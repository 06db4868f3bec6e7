"""Images and agents: what can be launched and where."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from berth.domain import slots as sl
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.db.tables import AgentRow, ImageRow
from berth.manager.schemas import AgentOut, ImageOut
from berth.manager.services.dispatch import load_snapshot

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/images")
async def list_images(actor: ActorDep, m: ManagerDep) -> list[ImageOut]:
    """Environment images available on at least one agent."""
    async with m.db() as db:
        rows = (
            await db.scalars(select(ImageRow).order_by(ImageRow.display_name, ImageRow.ref))
        ).all()
    return [
        ImageOut.model_validate(r)
        for r in rows
        if r.agents and (r.owner_id is None or r.owner_id == actor.id)
    ]


@router.get("/agents")
async def list_agents(actor: ActorDep, m: ManagerDep) -> list[AgentOut]:
    """Agents with their capacity and what is free now."""
    async with m.db() as db:
        rows = (await db.scalars(select(AgentRow).order_by(AgentRow.id))).all()
        states = {a.id: a for a in (await load_snapshot(db)).agents}
    out = []
    for row in rows:
        state = states.get(row.id)
        occupied = state.occupied if state else {}
        capacity = sl.from_json(row.capacity)
        out.append(
            AgentOut(
                id=row.id,
                status=row.status,
                resource_group=row.resource_group,
                capacity=sl.to_json(capacity),
                occupied=sl.to_json(occupied),
                free=sl.to_json(sl.free(capacity, occupied)),
                last_heartbeat=row.last_heartbeat,
                version=row.version,
            )
        )
    return out
