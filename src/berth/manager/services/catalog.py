"""What can be launched and where: the images a caller may use and the agents with their
capacity and what is free now."""

from __future__ import annotations

from sqlalchemy import select

from berth.domain import slots as sl
from berth.manager import access
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.tables import AgentRow, ImageRow
from berth.manager.schemas import AgentOut
from berth.manager.services.dispatch import load_snapshot


async def list_images(m: Manager, actor: Actor) -> list[ImageRow]:
    """Images on at least one agent that ``actor`` may use, by display name then ref."""
    async with m.db() as db:
        rows = (
            await db.scalars(select(ImageRow).order_by(ImageRow.display_name, ImageRow.ref))
        ).all()
    return [r for r in rows if r.agents and access.can_use_image(actor, r.owner_id)]


async def list_agents(m: Manager) -> list[AgentOut]:
    """Every agent (alive or lost) with its capacity, what its sessions occupy and what is
    free, by id."""
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
                free=sl.to_json(sl.sub(capacity, occupied)),
                last_heartbeat=row.last_heartbeat,
                version=row.version,
            )
        )
    return out
