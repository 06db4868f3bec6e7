"""The dispatcher: snapshot the cluster (:mod:`.snapshot`), ask the pure scheduler for a
Plan, apply it in one transaction, then queue each placed session for the hand-over to its agent
(:mod:`.handover`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import devices as dv
from berth.domain import slots as sl
from berth.domain.scheduler import (
    LIFO,
    PendingSession,
    Plan,
    Snapshot,
    schedule,
)
from berth.domain.status import AgentStatus, SessionStatus, StatusInfo
from berth.manager.context import Manager, change_status, status_event
from berth.manager.db.engine import transaction
from berth.manager.db.history import add_history
from berth.manager.db.tables import (
    AgentRow,
    ResourceGroupRow,
    SessionRow,
    utcnow,
)
from berth.manager.events import Event
from berth.manager.services.handover import queue_send
from berth.manager.services.handover_batch import Handover
from berth.manager.services.isolation import TRANSIENT, describe, fail_internal, fetch_each
from berth.manager.services.snapshot import (
    agent_devices,
    load_held,
    load_snapshot,
    load_usage,
    read_slots,
)

log = logging.getLogger(__name__)
S = SessionStatus


#: Pending sessions read per resource group and pass, in queue order. The rest wait for a
#: later pass (a session past the batch keeps the position it was last given).
BATCH = 1000
#: A waiting session's record is rewritten when something in it changed, or at the latest
#: this often (so ``last_try`` stays recent without writing every row on every pass).
REFRESH = timedelta(seconds=30)


#: What a pass reads of every pending session (Core rows, not ORM objects: loading a
#: thousand waiting sessions and their kernels through the ORM on every pass of a burst cost
#: more than the rest of the pass). Only the sessions the pass writes are loaded as ORM rows.
_FACTS = (SessionRow.id, SessionRow.name, SessionRow.created_at, SessionRow.requested_slots,
          SessionRow.resource_group, SessionRow.starts_at, SessionRow.designated_agent,
          SessionRow.priority, SessionRow.image, SessionRow.owner_id, SessionRow.project_id,
          SessionRow.cluster_size, SessionRow.type, SessionRow.status_info,
          SessionRow.status_data)
#: A pending session as a pass reads it: a :data:`_FACTS` row or a ``SessionRow``.
Facts = Any


async def _facts(db: AsyncSession, ids: Sequence[str]) -> list[Facts]:
    return list((await db.execute(select(*_FACTS).where(SessionRow.id.in_(ids)))).all())


def _pending_of(row: Facts) -> PendingSession:
    """Raises when the row's values cannot be scheduled (the caller ends the session)."""
    if row.starts_at is not None and row.starts_at.tzinfo is None:
        raise ValueError("starts_at has no time zone")
    size = int(row.cluster_size or 1)
    if size < 1:
        raise ValueError(f"cluster_size must be at least 1, not {size}")
    return PendingSession(
        id=row.id,
        created_at=row.created_at,
        requested=read_slots(row.requested_slots),
        resource_group=row.resource_group,
        starts_at=row.starts_at,
        agent_id=row.designated_agent,
        priority=int(row.priority),
        image=row.image,
        owner_id=row.owner_id,
        project_id=row.project_id,
        cluster_size=size,
        type=str(row.type),
        name=row.name,
    )


def _plan(
    snapshot: Snapshot, pending: list[PendingSession], now: datetime
) -> tuple[Plan, dict[str, Exception]]:
    """The scheduler's plan. Should it raise, each session is tried alone to find the ones
    that make it raise; the plan is then made without them."""
    try:
        return schedule(snapshot, pending, now), {}
    except Exception:  # noqa: BLE001 - find the sessions to blame below
        pass
    failed: dict[str, Exception] = {}
    for one in pending:
        try:
            schedule(snapshot, [one], now)
        except Exception as e:
            failed[one.id] = e
    return schedule(snapshot, [p for p in pending if p.id not in failed], now), failed


def _record(row: Facts, plan: Plan, now: datetime) -> dict[str, Any]:
    checks = plan.waiting[row.id]
    failed = [c for c in checks if not c.passed]
    old = row.status_data.get("scheduler", {}) if isinstance(row.status_data, dict) else {}
    return {
        "tries": int(old.get("tries", 0)) + 1 if isinstance(old, dict) else 1,
        "last_try": now.isoformat(),
        "message": failed[0].message if failed else "",
        "checks": [asdict(c) for c in checks],
        "position": plan.positions.get(row.id),
    }


def _unchanged(old: Any, new: dict[str, Any], now: datetime) -> bool:
    """The stored record says what ``new`` says and is recent enough to be left as is."""
    if not isinstance(old, dict):
        return False
    if any(old.get(k) != new[k] for k in ("message", "checks", "position")):
        return False
    try:
        return now - datetime.fromisoformat(str(old["last_try"])) < REFRESH
    except (KeyError, ValueError, TypeError):
        return False


def _wait_info(plan: Plan, session_id: str) -> StatusInfo:
    failed = [c for c in plan.waiting[session_id] if not c.passed]
    if failed and failed[0].name == "start-time":
        return StatusInfo.WAITING_FOR_START_TIME
    return StatusInfo.NO_AVAILABLE_RESOURCES


def _needs_record(row: Facts, plan: Plan, now: datetime) -> bool:
    """False when ``row`` already says (and said recently) what this pass would record."""
    if row.status_info != str(_wait_info(plan, row.id)):
        return True
    old = row.status_data.get("scheduler") if isinstance(row.status_data, dict) else None
    return not _unchanged(old, _record(row, plan, now), now)


def _record_wait(db: AsyncSession, row: SessionRow, plan: Plan, now: datetime) -> Event | None:
    """Store why ``row`` waits and where it stands (a history entry when the reason
    changes)."""
    info = _wait_info(plan, row.id)
    row.status_data = {"scheduler": _record(row, plan, now)}
    if row.status_info == str(info):
        return None
    row.status_info = str(info)
    row.status_changed_at = now
    add_history(db, row.id, str(row.status), str(info), row.status_data, now)
    return status_event(row)


def _cancel(db: AsyncSession, row: SessionRow, why: str, now: datetime) -> Event:
    old = row.status_data.get("scheduler", {}) if isinstance(row.status_data, dict) else {}
    data = {"scheduler": {**(old if isinstance(old, dict) else {}), "message": why}}
    return change_status(db, row, S.CANCELLED, StatusInfo.PENDING_TIMEOUT, data, now)


def _apply(db: AsyncSession, row: SessionRow, plan: Plan, now: datetime) -> list[Event]:
    """What the plan says for ``row``: place it, cancel it or record why it waits."""
    agent_id = plan.assignments.get(row.id)
    if agent_id is not None:
        return _place(db, row, agent_id, now, plan.devices.get(row.id, []))
    if row.id in plan.cancelled:
        return [_cancel(db, row, plan.cancelled[row.id], now)]
    return [e for e in [_record_wait(db, row, plan, now)] if e]


def _place(db: AsyncSession, row: SessionRow, agent_id: str, now: datetime,
           devices: list[list[dv.Allocation]]) -> list[Event]:
    row.agent_id = agent_id
    for n, kernel in enumerate(row.kernels):  # in cluster order, as the plan's devices
        kernel.agent_id = agent_id
        if n < len(devices) and devices[n]:
            kernel.accelerators = [a.to_json() for a in devices[n]]
    return [
        change_status(db, row, S.SCHEDULED, StatusInfo.SCHEDULED, {"agent": agent_id}, now),
        # Preparing starts in the same transaction: one commit less on every launch.
        change_status(db, row, S.PREPARING, StatusInfo.PREPARING, now=now),
    ]


async def _pending_ids(db: AsyncSession) -> list[str]:
    """The PENDING sessions of this pass: up to :data:`BATCH` per resource group, in the
    group's queue order (priority, then oldest or, for lifo, newest first), through the
    queue index. On PostgreSQL the rows are locked and rows another manager holds are
    skipped."""
    s = SessionRow
    groups = list(await db.scalars(
        select(s.resource_group).where(s.status == S.PENDING).distinct()))
    if not groups:
        return []
    lifo = set(await db.scalars(select(ResourceGroupRow.name).where(
        ResourceGroupRow.scheduler == LIFO)))
    postgres = db.get_bind().dialect.name == "postgresql"
    ids: list[str] = []
    for group in sorted(groups):
        age = s.created_at.desc() if group in lifo else s.created_at.asc()
        query = (select(s.id).where(s.status == S.PENDING, s.resource_group == group)
                 .order_by(s.priority.desc(), age, s.id).limit(BATCH))
        if postgres:
            query = query.with_for_update(skip_locked=True)
        ids += list(await db.scalars(query))
    return ids


async def _rows(db: AsyncSession, ids: Sequence[str]) -> list[SessionRow]:
    return list((await db.scalars(select(SessionRow).where(SessionRow.id.in_(ids)))).all())


async def _reject_stale(
    db: AsyncSession, plan: Plan, pending: dict[str, PendingSession]
) -> set[str]:
    """Lock the agents the plan places sessions on (in id order, so two managers never
    deadlock), read what they hold now and their capacity, and return the sessions whose
    agent would be overcommitted: the plan was made from a snapshot another manager has
    changed since. Those sessions stay PENDING, untouched, for the next pass."""
    touched = sorted(set(plan.assignments.values()))
    if not touched:
        return set()
    locked = {
        a.id: a for a in (await db.scalars(
            select(AgentRow).where(AgentRow.id.in_(touched)).order_by(AgentRow.id)
            .with_for_update().execution_options(populate_existing=True))).all()
    }
    held = (await load_usage(db, touched)).agents
    holding = await load_held(db, touched) if plan.devices else {}
    by_agent: dict[str, list[str]] = defaultdict(list)
    for session_id, agent_id in sorted(plan.assignments.items()):
        by_agent[agent_id].append(session_id)
    stale: set[str] = set()
    for agent_id, sessions in by_agent.items():
        row = locked.get(agent_id)
        ok = row is not None and row.status == AgentStatus.ALIVE and bool(row.schedulable)
        if ok and row is not None:
            capacity = read_slots(row.capacity)
            total = sl.add(held.get(agent_id, {}), *(pending[i].need for i in sessions))
            ok = not any(sl.is_capacity(k) and v > capacity.get(k, Decimal(0))
                         for k, v in total.items() if v > 0)
            ok = ok and _devices_free(row, holding.get(agent_id, {}), plan, sessions)
        if not ok:
            log.info("scheduler: stale plan for agent %s (changed since the snapshot); "
                     "%d session(s) wait for the next pass", agent_id, len(sessions))
            stale.update(sessions)
    return stale


def _devices_free(agent: AgentRow, holding: dict[str, dict[str, dv.Allocation]], plan: Plan,
                  sessions: list[str]) -> bool:
    """The devices the plan gives ``sessions`` on ``agent`` are free of what its kernels
    hold now (another manager may have given them away since the snapshot)."""
    devices = agent_devices(agent.info)
    for prefix, held in holding.items():
        planned = {f"{i}#{n}": a for i in sessions
                   for n, allocations in enumerate(plan.devices.get(i, []))
                   for a in allocations if a.slot_prefix == prefix}
        if planned:
            _, problems = dv.restore(devices.get(prefix, ()), {**held, **planned}, prefix)
            if problems:
                return False
    return True


class _BulkFailed(Exception):
    """Writing the pass's changes at once failed for a reason of some row's (not of the
    database): the pass is made again with each session in a savepoint of its own."""


async def schedule_once(m: Manager) -> int:
    """One scheduler pass; spawns dispatch of every session it placed and returns how many.

    The snapshot, the plan and its application are one transaction; before anything is
    written the agents the plan uses are locked and re-checked (:func:`_reject_stale`), so
    two managers on one database never overcommit an agent. Sessions past their group's
    pending timeout are CANCELLED ``pending-timeout``.

    A PENDING session the pass cannot handle (its row cannot be read, its slots are not
    numbers, the scheduler or the placement raises for it) is ended as ERROR
    ``internal-error`` with ``status_data = {error, where: "scheduler"}``; the other sessions
    are scheduled in the same pass. The changes are written in one flush (batched
    statements); should that fail for some row, the pass is rolled back and made again with
    a savepoint per session, which pins the failure on that session."""
    try:
        return await _schedule_pass(m, careful=False)
    except _BulkFailed as e:
        log.info("scheduler: one flush failed (%s); again a session at a time",
                 describe(e.__cause__ or e))
        return await _schedule_pass(m, careful=True)


async def _schedule_pass(m: Manager, careful: bool) -> int:
    events: list[Event] = []
    placed: list[Handover] = []
    stale: set[str] = set()
    async with transaction(m.db) as db:
        ids = await _pending_ids(db)
        if not ids:
            return 0
        facts, failed = await fetch_each(ids, lambda chunk: _facts(db, chunk))
        now = utcnow()  # after the rows are read: history never goes back in time
        pending: dict[str, PendingSession] = {}
        for fact in facts:
            try:
                pending[fact.id] = _pending_of(fact)
            except Exception as e:
                failed[fact.id] = e
        snapshot = await load_snapshot(db, list(pending.values()))
        plan, unplanned = _plan(snapshot, list(pending.values()), now)
        failed.update(unplanned)
        stale = await _reject_stale(db, plan, pending)
        # Only the sessions with something to write are loaded as ORM rows (the rows are
        # locked on PostgreSQL and SQLite's write lock is held: they are as just read).
        writes = [f.id for f in facts if f.id not in failed and f.id not in stale and (
            f.id in plan.assignments or f.id in plan.cancelled or _needs_record(f, plan, now))]
        rows, unread = await fetch_each(writes, lambda chunk: _rows(db, chunk))
        failed.update(unread)
        order = {session_id: n for n, session_id in enumerate(ids)}
        for row in sorted(rows, key=lambda r: order[r.id]):
            session_id = row.id  # a failed savepoint expires the row: read it before
            kernels = len(row.kernels)
            agent_id = plan.assignments.get(session_id)
            try:
                if careful:
                    async with db.begin_nested():
                        step = _apply(db, row, plan, now)
                else:
                    step = _apply(db, row, plan, now)
            except TRANSIENT:
                raise
            except Exception as e:
                if not careful:
                    raise _BulkFailed() from e
                failed[session_id] = e
                continue
            events += step
            if agent_id is not None:
                placed.append(Handover(session_id, agent_id, kernels))
        if not careful:
            try:
                await db.flush()
            except TRANSIENT:
                raise
            except Exception as e:
                raise _BulkFailed() from e
        for session_id, error in failed.items():
            if (event := await fail_internal(db, session_id, "scheduler", error, now)) is not None:
                events.append(event)
    await m.publish(events)
    queue_send(m, placed)
    if stale:
        m.wake.set()  # the sessions of a stale plan are tried again at once
    return len(placed)
