"""What the scheduler's pass reads of the cluster (:func:`load_snapshot`): the alive agents
with what the sessions on them occupy, their images and accelerator devices, the resource
groups' settings and the quotas of the pending sessions' owners. A handful of queries whatever
the number of sessions; the pure scheduler (:mod:`berth.domain.scheduler`) decides on the
result and :mod:`.dispatch` applies its plan. The resource check and the agents' list read
what is free through the same helpers."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import devices as dv
from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, GroupState, PendingSession, Quota, Snapshot
from berth.domain.status import OCCUPYING, AgentStatus
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    ResourcePolicyRow,
    SessionRow,
    UserRow,
)
from berth.manager.services.isolation import describe

log = logging.getLogger(__name__)


def read_slots(data: Any) -> sl.Slots:
    """Slots from a row's JSON; every amount must be a finite number not below zero (the
    scheduler compares them, and NaN or text would break it for every session)."""
    if not isinstance(data, dict):
        raise ValueError(f"slots must be a JSON object, not {type(data).__name__}")
    amounts: sl.Slots = {}
    for key, value in data.items():
        try:
            amounts[key] = sl.from_json({key: value})[key]
        except (ArithmeticError, TypeError, ValueError):
            raise ValueError(f"slot {key} is not a number: {value!r}") from None
    bad = sorted(k for k, v in amounts.items() if not v.is_finite() or v < 0)
    if bad:
        raise ValueError(f"slot amounts must be finite and not negative: {', '.join(bad)}")
    return amounts


def _slots_of(text: Any, cache: dict[str, sl.Slots]) -> sl.Slots:
    """Slots from a JSON column read as text (grouped rows share one parse)."""
    key = text if isinstance(text, str) else json.dumps(text, sort_keys=True)
    if key not in cache:
        cache[key] = read_slots(json.loads(key) if isinstance(text, str) else text)
    return cache[key]


@dataclass
class Usage:
    """What occupying sessions hold: per agent, per user, per project and per (group, owner),
    with the number of sessions per user and project."""

    agents: dict[str, sl.Slots] = field(default_factory=lambda: defaultdict(dict))
    users: dict[str, sl.Slots] = field(default_factory=lambda: defaultdict(dict))
    projects: dict[str, sl.Slots] = field(default_factory=lambda: defaultdict(dict))
    owners: dict[tuple[str, str], sl.Slots] = field(default_factory=lambda: defaultdict(dict))
    user_sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    project_sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def load_usage(db: AsyncSession, agent_ids: Sequence[str] | None = None) -> Usage:
    """What the occupying sessions hold (``requested_slots`` × ``cluster_size`` each), in one
    query grouped by identical requests; only on ``agent_ids`` when given. A session whose
    slots cannot be read is left out (and logged)."""
    s = SessionRow
    slots_text = cast(s.requested_slots, Text)
    query = (
        select(s.agent_id, s.owner_id, s.project_id, s.resource_group, slots_text,
               s.cluster_size, func.count())
        .where(s.status.in_(OCCUPYING), s.agent_id.is_not(None))
        .group_by(s.agent_id, s.owner_id, s.project_id, s.resource_group, slots_text,
                  s.cluster_size)
    )
    if agent_ids is not None:
        query = query.where(s.agent_id.in_(agent_ids))
    usage = Usage()
    cache: dict[str, sl.Slots] = {}
    for agent, owner, project, group, text, size, count in (await db.execute(query)).all():
        agent_id = str(agent)
        try:
            held = sl.scale(_slots_of(text, cache), int(size or 1) * int(count))
        except Exception as e:
            log.warning("scheduler: slots of sessions on %s not counted: %s", agent_id,
                        describe(e))
            continue
        usage.agents[agent_id] = sl.add(usage.agents[agent_id], held)
        usage.users[owner] = sl.add(usage.users[owner], held)
        usage.projects[project] = sl.add(usage.projects[project], held)
        usage.owners[(group, owner)] = sl.add(usage.owners[(group, owner)], held)
        usage.user_sessions[owner] += int(count)
        usage.project_sessions[project] += int(count)
    return usage


async def agent_images(db: AsyncSession) -> dict[str, frozenset[str]]:
    """The image refs each agent has. Read from ``ImageRow.agents`` (the one place that says
    how agents' images are stored, so that it can change here alone)."""
    found: dict[str, set[str]] = defaultdict(set)
    for ref, agents in (await db.execute(select(ImageRow.ref, ImageRow.agents))).all():
        for agent_id in agents or []:
            found[str(agent_id)].add(ref)
    return {k: frozenset(v) for k, v in found.items()}


async def load_quotas(
    db: AsyncSession, pending: Sequence[PendingSession], usage: Usage
) -> dict[tuple[str, str], Quota]:
    """The resource policies of the pending sessions' users and projects, with their usage."""
    users = {p.owner_id for p in pending}
    projects = {p.project_id for p in pending}
    if not users and not projects:
        return {}
    named: list[tuple[str, str, str]] = []
    for scope, table, ids in (("user", UserRow, users), ("project", ProjectRow, projects)):
        for chunk in _chunks(sorted(ids)):
            rows = await db.execute(select(table.id, table.resource_policy).where(
                table.id.in_(chunk), table.resource_policy.is_not(None)))
            named += [(scope, i, str(policy)) for i, policy in rows.all()]
    if not named:
        return {}
    policies = {
        r.name: r for r in (await db.scalars(select(ResourcePolicyRow).where(
            ResourcePolicyRow.name.in_({n for _, _, n in named})))).all()
    }
    quotas = {}
    for scope, owner, name in named:
        policy = policies.get(name)
        if policy is None:
            continue
        try:
            limits = read_slots(policy.total_slots or {})
        except Exception as e:
            log.warning("scheduler: policy %s has unreadable total_slots: %s", name, describe(e))
            limits = {}
        used = usage.users if scope == "user" else usage.projects
        count = usage.user_sessions if scope == "user" else usage.project_sessions
        quotas[(scope, owner)] = Quota(scope, owner, name, limits,
                                       policy.max_concurrent_sessions,
                                       dict(used.get(owner, {})), count.get(owner, 0))
    return quotas


Held = dict[str, dict[str, dict[str, dv.Allocation]]]


def agent_devices(info: Any) -> dict[str, tuple[dv.Device, ...]]:
    """The accelerator devices an agent reported (``AgentRow.info["accelerators"]``), by
    plugin; anything unreadable is left out (its slots are then only counted)."""
    found: dict[str, tuple[dv.Device, ...]] = {}
    plugins = info.get("accelerators") if isinstance(info, dict) else None
    for plugin in plugins if isinstance(plugins, list) else []:
        try:
            devices = tuple(dv.Device(str(d["id"]), int(d["memory"]), str(d.get("model", "")))
                            for d in plugin.get("devices") or [])
            if devices:
                found[str(plugin["name"])] = devices
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("scheduler: unreadable accelerator devices in an agent's report")
    return found


async def load_held(db: AsyncSession, agent_ids: Sequence[str] | None = None) -> Held:
    """What the kernels of occupying sessions hold of accelerator devices: agent -> plugin
    -> kernel id -> allocation (through ``ix_kernels_devices``: only kernels with some)."""
    query = (select(KernelRow.id, KernelRow.agent_id, KernelRow.accelerators)
             .join(SessionRow, SessionRow.id == KernelRow.session_id)
             .where(KernelRow.accelerators.is_not(None), KernelRow.agent_id.is_not(None),
                    SessionRow.status.in_(OCCUPYING)))
    if agent_ids is not None:
        query = query.where(KernelRow.agent_id.in_(agent_ids))
    held: Held = defaultdict(lambda: defaultdict(dict))
    for kernel_id, agent_id, allocations in (await db.execute(query)).all():
        for raw in allocations or []:
            try:
                a = dv.Allocation.from_json(raw)
            except ValueError as e:
                log.warning("scheduler: kernel %s holds unreadable devices: %s", kernel_id, e)
                continue
            held[str(agent_id)][a.slot_prefix][str(kernel_id)] = a
    return held


def device_free(info: Any, held: dict[str, dict[str, dv.Allocation]],
                quantum: Decimal = dv.DEFAULT_QUANTUM) -> sl.Slots:
    """What ONE new kernel could get now of each accelerator slot of the agent (``info``:
    ``AgentRow.info``): devices, not counts (a device holding shares is not free whole, and
    free shares split over devices are not one kernel's)."""
    free: sl.Slots = {}
    for prefix, devices in agent_devices(info).items():
        free.update(dv.available(devices, held.get(prefix, {}), prefix, quantum))
    return free


def group_devices(row: ResourceGroupRow) -> tuple[Decimal, dv.Policy]:
    """A group's share step and device policy (stored values checked by the admin API; a
    bad one falls back to the defaults rather than stop the scheduler)."""
    try:
        quantum = Decimal(row.accelerator_quantum)
        if not (quantum.is_finite() and 0 < quantum <= 1):
            raise ValueError(quantum)
    except (ArithmeticError, ValueError, TypeError):
        quantum = dv.DEFAULT_QUANTUM
    policy: dv.Policy = "spread" if row.accelerator_policy == "spread" else "fill"
    return quantum, policy


def _chunks(ids: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


async def load_snapshot(db: AsyncSession, pending: Sequence[PendingSession] = ()) -> Snapshot:
    """Alive agents with what the sessions placed on them occupy and the images they have,
    the resource groups' settings (with each owner's usage, for DRF) and the quotas of the
    pending sessions' users and projects. A handful of queries whatever the number of
    sessions; an agent or session whose slots cannot be read is left out (and logged),
    never the whole snapshot."""
    agents = (
        await db.scalars(
            select(AgentRow).where(AgentRow.status == AgentStatus.ALIVE).order_by(AgentRow.id)
        )
    ).all()
    usage = await load_usage(db)
    images = await agent_images(db)
    # The kernels' devices are read only when some agent has devices (a pass stays as cheap
    # as before on a cluster without accelerators).
    devices_held = await load_held(db) if any(agent_devices(a.info) for a in agents) else {}
    states = []
    for a in agents:
        try:
            capacity = read_slots(a.capacity)
        except Exception as e:
            log.warning("scheduler: agent %s left out: %s", a.id, describe(e))
            continue
        states.append(AgentState(a.id, a.resource_group, capacity, usage.agents.get(a.id, {}),
                                 bool(a.schedulable), images.get(a.id, frozenset()),
                                 agent_devices(a.info), devices_held.get(a.id, {})))
    owners: dict[str, dict[str, sl.Slots]] = defaultdict(dict)
    for (group, owner), held in usage.owners.items():
        owners[group][owner] = held
    groups = {
        g.name: GroupState(g.name, g.scheduler, g.agent_selection, int(g.pending_timeout or 0),
                           bool(g.is_active), owners.get(g.name, {}), *group_devices(g))
        for g in (await db.scalars(select(ResourceGroupRow))).all()
    }
    quotas = await load_quotas(db, pending, usage)
    return Snapshot(tuple(states), groups, quotas)
