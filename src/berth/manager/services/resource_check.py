"""The resource check: for a user, a project and a resource group, what the policies allow,
what the scopes' sessions hold now, what is left, which presets could start now, and the
group's agents with what they have free. Read-only; the numbers are a moment's view (the
scheduler decides for real)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import devices as dv
from berth.domain import policy as pol
from berth.domain import slots as sl
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import OCCUPYING, AgentStatus, SessionStatus
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.tables import AgentRow, ProjectRow, ResourceGroupRow, SessionRow, UserRow
from berth.manager.schemas_admin import (
    CheckAgentOut,
    CheckOut,
    CheckPresetOut,
    CheckScopes,
    ScopeOut,
    SlotOut,
)
from berth.manager.services.errors import Forbidden, NotFound
from berth.manager.services.policies import policy_of
from berth.manager.services.presets import presets_for
from berth.manager.services.projects import DEFAULT_PROJECT, facts, member_projects
from berth.manager.services.resource_groups import visible_groups
from berth.manager.services.snapshot import device_free, group_devices, load_held


def _amounts(data: Any) -> sl.Slots:
    """A row's slots; unreadable amounts (never written by Berth) count as nothing."""
    found: sl.Slots = {}
    for key, value in (data or {}).items() if isinstance(data, dict) else ():
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            continue
        if amount.is_finite() and amount >= 0:
            found[str(key)] = amount
    return found


def _times(value: sl.Slots, factor: int) -> sl.Slots:
    """A cluster session's kernels all hold the per-kernel request."""
    return {k: v * factor for k, v in value.items()}


@dataclass
class _Usage:
    used: sl.Slots
    occupying: int
    pending: int


async def _usage(db: AsyncSession, *where: Any) -> _Usage:
    """What the sessions matching ``where`` hold (occupying ones: per kernel times their
    cluster size) and how many occupy or wait."""
    rows = (await db.execute(select(SessionRow.requested_slots, SessionRow.cluster_size).where(
        *where, SessionRow.status.in_(OCCUPYING)))).all()
    used = sl.total(_times(_amounts(r), max(int(n or 1), 1)) for r, n in rows)
    pending = await db.scalar(select(func.count()).select_from(SessionRow).where(
        *where, SessionRow.status == SessionStatus.PENDING)) or 0
    return _Usage(used, len(rows), int(pending))


def _scope(name: str | None, limits: pol.PolicyLimits | None, usage: _Usage) -> ScopeOut:
    totals = limits.total_slots if limits else {}
    return ScopeOut(
        name=name, limits=sl.to_json(totals), used=sl.to_json(usage.used),
        remaining=sl.to_json(pol.remaining(totals, usage.used)),
        max_concurrent_sessions=limits.max_concurrent_sessions if limits else None,
        concurrent_sessions=usage.occupying,
        max_pending_sessions=limits.max_pending_sessions if limits else None,
        pending_sessions=usage.pending)


def _full(scope: ScopeOut) -> bool:
    most = scope.max_concurrent_sessions
    return most is not None and scope.concurrent_sessions >= most


async def _subject(db: AsyncSession, actor: Actor, owner_email: str | None) -> UserRow:
    if owner_email is not None and not actor.is_admin:
        raise Forbidden("only admins may check resources for another user (owner_email)")
    user = (await db.scalar(select(UserRow).where(UserRow.email == owner_email.lower()))
            if owner_email is not None else await db.get(UserRow, actor.id))
    if user is None:
        raise RuleErrors([RuleError("owner_email", f"no user with email {owner_email}")])
    return user


async def _project(db: AsyncSession, user: UserRow, asked: str | None) -> ProjectRow:
    memberships = await member_projects(db, user.id)
    fallback = await db.scalar(select(ProjectRow).where(ProjectRow.name == DEFAULT_PROJECT))
    picked = pol.pick_project(asked, [facts(p) for p in memberships],
                              facts(fallback) if fallback else None)
    if isinstance(picked, RuleError):
        raise RuleErrors([picked])
    row = await db.get(ProjectRow, picked.id)
    assert row is not None
    return row


async def _agents(db: AsyncSession, group: str) -> list[tuple[AgentRow, sl.Slots, sl.Slots]]:
    """The group's alive schedulable agents with their capacity and what is free."""
    agents = (await db.scalars(select(AgentRow).where(
        AgentRow.resource_group == group, AgentRow.status == AgentStatus.ALIVE,
        AgentRow.schedulable).order_by(AgentRow.id))).all()
    held = await occupied(db, [a.id for a in agents])
    devices_held = await load_held(db, [a.id for a in agents])
    quantum = group_devices(row)[0] if (row := await db.get(ResourceGroupRow, group)) else (
        dv.DEFAULT_QUANTUM)
    out = []
    for a in agents:
        capacity = _amounts(a.capacity)
        free = {**free_of(capacity, held[a.id]),
                **device_free(a.info, devices_held.get(a.id, {}), quantum)}
        out.append((a, capacity, free))
    return out


def accelerator_slots(agents: Iterable[AgentRow], quantum: Decimal) -> list[SlotOut]:
    """The accelerator slots the agents offer, by name, with their step (the group's
    quantum for shares) and whether a mock offers them."""
    found: dict[str, SlotOut] = {}
    for a in agents:
        plugins = a.info.get("accelerators") if isinstance(a.info, dict) else None
        for plugin in plugins if isinstance(plugins, list) else []:
            if not isinstance(plugin, dict) or not plugin.get("devices"):
                continue
            for slot in plugin.get("slots") or []:
                name = str(slot.get("name", ""))
                shares = name == dv.shares_slot(str(plugin.get("name")))
                found.setdefault(name, SlotOut(
                    name=name, plugin=str(plugin.get("name")),
                    description=str(slot.get("description", "")),
                    step=format(quantum.normalize(), "f") if shares else "1",
                    mock=bool(plugin.get("mock"))))
    return [found[k] for k in sorted(found)]


def free_of(capacity: sl.Slots, held: sl.Slots) -> sl.Slots:
    """What is free of each slot the agent has (never below zero; slots it does not have,
    like shmem, are not listed)."""
    return {k: max(v - held.get(k, Decimal(0)), Decimal(0)) for k, v in capacity.items()}


async def occupied(db: AsyncSession, agent_ids: list[str]) -> dict[str, sl.Slots]:
    """What the occupying sessions placed on each agent hold (a cluster session: its size
    times the per-kernel request), per agent id."""
    held: dict[str, list[sl.Slots]] = {i: [] for i in agent_ids}
    if agent_ids:
        rows = await db.execute(select(SessionRow.agent_id, SessionRow.requested_slots,
                                       SessionRow.cluster_size).where(
            SessionRow.agent_id.in_(agent_ids), SessionRow.status.in_(OCCUPYING)))
        for agent_id, requested, size in rows.all():
            held[agent_id or ""].append(_times(_amounts(requested), max(int(size or 1), 1)))
    return {i: sl.total(v) for i, v in held.items() if i in agent_ids}


def _sum(values: Iterable[sl.Slots]) -> sl.Slots:
    return sl.total(values)


async def check(m: Manager, actor: Actor, group: str, project: str | None,
                owner_email: str | None = None) -> CheckOut:
    """The numbers for ``actor`` (admins: or ``owner_email``'s) in ``group`` and ``project``
    (default: the user's default project). Raises NotFound for a group the actor may not
    see, RuleErrors for a project the user is not a member of or an unknown owner, Forbidden
    for ``owner_email`` from a non-admin."""
    async with m.db() as db:
        visible = await visible_groups(db, actor)
        group_row = await db.get(ResourceGroupRow, group)
        if group_row is None or (visible is not None and group not in visible):
            raise NotFound(f"no resource group '{group}'")
        user = await _subject(db, actor, owner_email)
        project_row = await _project(db, user, project)
        user_policy = await policy_of(db, user.resource_policy)
        project_policy = await policy_of(db, project_row.resource_policy)
        user_scope = _scope(user.resource_policy, user_policy,
                            await _usage(db, SessionRow.owner_id == user.id))
        project_scope = _scope(project_row.resource_policy, project_policy,
                               await _usage(db, SessionRow.project_id == project_row.id))
        agents = await _agents(db, group)
        group_usage = await _usage(db, SessionRow.resource_group == group)
        capacity = _sum(c for _, c, _ in agents)
        free = _sum(f for _, _, f in agents)
        group_scope = ScopeOut(
            name=group, limits=sl.to_json(capacity),
            used=sl.to_json(free_of(capacity, free)), remaining=sl.to_json(free),
            max_concurrent_sessions=None, concurrent_sessions=group_usage.occupying,
            max_pending_sessions=None, pending_sessions=group_usage.pending)
        lefts = [pol.remaining(user_policy.total_slots, _amounts(user_scope.used))
                 if user_policy else {},
                 pol.remaining(project_policy.total_slots, _amounts(project_scope.used))
                 if project_policy else {}]
        blocked = _full(user_scope) or _full(project_scope)
        presets = [CheckPresetOut(
            id=p.id, name=p.name, resource_group=p.resource_group, slots=dict(p.slots),
            allocatable=not blocked and pol.allocatable(
                _amounts(p.slots), [f for _, _, f in agents], lefts))
            for p in await presets_for(db, group)]
    return CheckOut(
        resource_group=group, project=project_row.name, presets=presets,
        scopes=CheckScopes(user=user_scope, project=project_scope, group=group_scope),
        max_per_container=sl.to_json(pol.largest(c for _, c, _ in agents)),
        agents=[CheckAgentOut(id=a.id, free=sl.to_json(f), capacity=sl.to_json(c))
                for a, c, f in agents],
        accelerators=accelerator_slots([a for a, _, _ in agents], group_devices(group_row)[0]))
