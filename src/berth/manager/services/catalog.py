"""What can be launched and where: the images a caller may use and the agents with their
capacity and what is free now; admins take agents out of scheduling or move them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from berth.domain import devices as dv
from berth.domain import slots as sl
from berth.domain.rules import RuleError, RuleErrors
from berth.manager import access
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, ImageRow, ResourceGroupRow
from berth.manager.schemas import AgentOut, DeviceUseOut
from berth.manager.schemas_admin import AgentUpdate
from berth.manager.services.errors import Conflict, NotFound
from berth.manager.services.policies import require_admin
from berth.manager.services.resource_check import free_of, occupied
from berth.manager.services.resource_groups import visible_groups
from berth.manager.services.snapshot import agent_devices, device_free, load_held


async def list_images(m: Manager, actor: Actor) -> list[ImageRow]:
    """Images on at least one agent that ``actor`` may use, by display name then ref."""
    async with m.db() as db:
        rows = (
            await db.scalars(select(ImageRow).order_by(ImageRow.display_name, ImageRow.ref))
        ).all()
    return [r for r in rows if r.agents and access.can_use_image(actor, r.owner_id)]


async def list_agents(m: Manager, actor: Actor) -> list[AgentOut]:
    """The agents (alive or lost) of the groups ``actor`` may use (admins: every agent),
    with capacity, what their sessions occupy and what is free, by id."""
    async with m.db() as db:
        visible = await visible_groups(db, actor)
        query = select(AgentRow).order_by(AgentRow.id)
        if visible is not None:
            query = query.where(AgentRow.resource_group.in_(visible))
        rows = (await db.scalars(query)).all()
        held = await occupied(db, [r.id for r in rows])
        devices_held = await load_held(db, [r.id for r in rows])
    # Which kernels hold a device is for admins only (users see how much is taken).
    return [_out(row, held.get(row.id, {}), devices_held.get(row.id, {}), actor.is_admin)
            for row in rows]


def device_use(row: AgentRow, held: dict[str, dict[str, dv.Allocation]], admin: bool = True
               ) -> list[DeviceUseOut]:
    """Each accelerator device of the agent with what its kernels hold of it: whole, shares
    and what is free (fragmentation: shares free on several devices are not one request's)."""
    out = []
    for prefix, devices in agent_devices(row.info).items():
        memory = {d.id: d.memory for d in devices}
        frag = dv.fragmentation(devices, held.get(prefix, {}), prefix)
        for d in frag.devices:
            out.append(DeviceUseOut(plugin=prefix, id=d.id, model=d.model, memory=memory[d.id],
                                    state=d.state, shares_used=dv.fmt(d.shares_used),
                                    shares_free=dv.fmt(d.shares_free),
                                    kernels=list(d.kernels) if admin else []))
    return out


def _out(row: AgentRow, used: sl.Slots,
         devices_held: dict[str, dict[str, dv.Allocation]] | None = None,
         admin: bool = True) -> AgentOut:
    capacity = sl.from_json(row.capacity)
    free = {**free_of(capacity, used), **device_free(row.info, devices_held or {})}
    return AgentOut(
        id=row.id,
        status=row.status,
        resource_group=row.resource_group,
        capacity=sl.to_json(capacity),
        occupied=sl.to_json(used),
        free=sl.to_json(free),
        last_heartbeat=row.last_heartbeat,
        version=row.version,
        info=dict(row.info or {}),
        schedulable=row.schedulable,
        devices=device_use(row, devices_held or {}, admin),
    )


async def update_agent(m: Manager, actor: Actor, agent_id: str, body: AgentUpdate) -> AgentOut:
    """Admins: take an agent out of scheduling (its sessions keep running) or back, or move
    it to another resource group. Raises Forbidden, NotFound, RuleErrors (unknown group)."""
    require_admin(actor, "change agents")
    try:
        async with transaction(m.db) as db:
            row = await db.get(AgentRow, agent_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            if body.resource_group is not None:
                if await db.get(ResourceGroupRow, body.resource_group) is None:
                    raise RuleErrors([RuleError("resource_group",
                                                f"no resource group '{body.resource_group}'")])
                row.resource_group = body.resource_group
            if body.schedulable is not None:
                row.schedulable = body.schedulable
            await db.flush()
            out = _out(row, (await occupied(db, [row.id]))[row.id])
    except IntegrityError as e:  # the group was deleted meanwhile
        raise Conflict(f"resource group '{body.resource_group}' was just deleted") from e
    m.wake.set()  # the scheduler may place sessions there now
    return out
