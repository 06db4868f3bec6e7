"""Periodic repairs: batch timeouts, sessions stuck in a transitional status, silent agents,
and resuming work a previous manager process left half-done.

Load, decide, apply: each watched session becomes a :class:`~berth.domain.reconcile.SessionView`,
:func:`~berth.domain.reconcile.watch_session` decides, and its status changes are applied in a
savepoint of their own after re-reading the row, so one session whose row breaks its step is
ended as ``internal-error`` (:mod:`.isolation`) and the pass goes on with the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.reconcile import (
    AFTER_COMMIT,
    WATCHED,
    Action,
    AgentView,
    Graces,
    SessionView,
    watch_agents,
    watch_session,
)
from berth.domain.status import AgentStatus, SessionStatus, SessionType
from berth.manager.context import Manager
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import AgentRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.actions import apply_to_session, run_later
from berth.manager.services.commits import resume_commits
from berth.manager.services.dispatch import schedule_once
from berth.manager.services.isolation import TRANSIENT, fail_internal, fetch_each, graces_of

log = logging.getLogger(__name__)
#: Seconds between scheduler passes while wake-ups come faster than that (a burst of
#: creates): one pass then places several sessions instead of one each.
BURST_GAP = 0.05
#: A pass that placed nothing is followed by at least this many times its own length before
#: the next one (the loop then holds the database at most a quarter of the time): the creates
#: of a burst into a full cluster wake it for each one, and a pass over a long queue costs as
#: much when it finds no room as when it does. Capped by the schedule interval.
FRUITLESS_PAUSE = 3.0
S = SessionStatus
_COLUMNS = (
    SessionRow.id,
    SessionRow.status,
    SessionRow.type,
    SessionRow.status_changed_at,
    SessionRow.started_at,
    SessionRow.timeout_seconds,
)


async def _columns(db: AsyncSession, ids: Sequence[str]) -> list[Any]:
    result = await db.execute(select(*_COLUMNS).where(SessionRow.id.in_(ids)))
    return list(result.all())


def _view(found: Any, inflight: set[str]) -> SessionView:
    session_id, status, type_, changed, started, timeout = found
    return SessionView(
        id=session_id,
        status=S(status),
        type=SessionType(type_),
        status_changed_at=changed,
        started_at=started,
        timeout_seconds=None if timeout is None else int(timeout),
        dispatching=f"dispatch:{session_id}" in inflight,
        destroying=f"destroy:{session_id}" in inflight,
    )


async def _apply(db: AsyncSession, view: SessionView, actions: list[Action]) -> list[Event]:
    """Apply the status changes of one session's actions to its re-read, locked row, unless
    the row changed since the snapshot was read (then the next pass decides again)."""
    row = await db.get(SessionRow, view.id, with_for_update=True, populate_existing=True)
    if (
        row is None
        or row.status is not view.status
        or row.status_changed_at != view.status_changed_at
    ):
        return []
    return apply_to_session(db, row, actions).events


@dataclass
class _Pass:
    now: datetime
    events: list[Event] = field(default_factory=list)
    later: list[Action] = field(default_factory=list)
    failed: dict[str, Exception] = field(default_factory=dict)
    #: Sessions with status changes to apply, as seen when decided.
    changes: list[tuple[SessionView, list[Action]]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def _watched() -> Any:
    """The sessions a pass looks at: every transitional one, and RUNNING batch sessions with
    a timeout (the only RUNNING ones it may end), not the thousands that just run."""
    return or_(
        SessionRow.status.in_(WATCHED - {S.RUNNING}),
        and_(SessionRow.status == S.RUNNING, SessionRow.type == SessionType.BATCH,
             SessionRow.timeout_seconds.is_not(None)),
    )


async def _watch_sessions(m: Manager, db: AsyncSession, graces: Graces) -> _Pass:
    ids = list(await db.scalars(select(SessionRow.id).where(_watched())))
    found, failed = await fetch_each(ids, lambda chunk: _columns(db, chunk))
    p = _Pass(utcnow(), failed=failed)
    for columns in found:
        session_id = columns[0]
        try:
            view = _view(columns, m.inflight)
            actions = watch_session(view, p.now, graces)
        except Exception as e:
            p.failed[session_id] = e
            continue
        if any(not isinstance(a, AFTER_COMMIT) for a in actions):
            p.changes.append((view, actions))
        p.later += [a for a in actions if isinstance(a, AFTER_COMMIT)]
    return p


async def _watch_agents(db: AsyncSession, now: datetime, graces: Graces) -> list[str]:
    """The ALIVE agents silent for too long."""
    found = (await db.execute(select(AgentRow.id, AgentRow.last_heartbeat)
                              .where(AgentRow.status == AgentStatus.ALIVE))).all()
    views = [AgentView(a, alive=True, last_heartbeat=at) for a, at in found]
    lost = watch_agents(views, now, graces)
    for action in lost:
        log.warning("agent %s is silent since %s", action.agent_id, action.silent_since)
    return [a.agent_id for a in lost]


async def _write(m: Manager, p: _Pass, graces: Graces) -> None:
    """Apply what the pass decided, each session in a savepoint of its own after reading
    its row again (unchanged since, or the next pass decides again)."""
    async with transaction(m.db) as db:
        now = utcnow()  # after the write lock: history never goes back in time
        for view, actions in p.changes:
            try:
                async with db.begin_nested():
                    p.events += await _apply(db, view, actions)
            except TRANSIENT:
                raise
            except Exception as e:
                p.failed[view.id] = e
        for session_id, error in p.failed.items():
            event = await fail_internal(db, session_id, "watchdog", error, now)
            if event is not None:
                p.events.append(event)
        for agent_id in p.lost:  # still silent now?
            agent = await db.get(AgentRow, agent_id)
            if agent is not None and agent.status is AgentStatus.ALIVE and watch_agents(
                    [AgentView(agent.id, True, agent.last_heartbeat)], now, graces):
                agent.status = AgentStatus.LOST


async def watchdog_once(m: Manager) -> None:
    """One watchdog pass over every watched session and every alive agent. A session whose
    row breaks its step is ended as ``internal-error``; the pass goes on with the rest.
    Reads without SQLite's write lock; writes (in one transaction) only when something is
    to change."""
    graces = graces_of(m.settings)
    async with reading(m.db) as db:
        p = await _watch_sessions(m, db, graces)
        p.lost = await _watch_agents(db, p.now, graces)
    if p.changes or p.failed or p.lost:
        await _write(m, p, graces)
    await m.publish(p.events)
    run_later(m, p.later)
    await resume_commits(m)  # commit tasks left by an earlier process (issue 12)


async def run_loops(m: Manager) -> None:
    """The manager's background loop: schedule on every wake-up (a create, a freed kernel)
    or interval; repair at most once per interval, so it never delays a launch.

    A burst of creates wakes it for each one: a pass then waits at least as long as the
    previous one took (and :data:`BURST_GAP`), so the loop never holds the database
    (SQLite's write lock) more than half of the time, and the creates and reports it waits
    for get their turns; after a pass that placed nothing, :data:`FRUITLESS_PAUSE` times as
    long."""
    last_watchdog = 0.0
    loop = asyncio.get_running_loop()
    while True:
        m.wake.clear()
        started = loop.time()
        steps: list[Callable[[Manager], Awaitable[int | None]]] = [schedule_once]
        if started - last_watchdog >= m.settings.schedule_interval:
            steps.append(watchdog_once)
            last_watchdog = started
        placed = 0
        for step in steps:
            try:
                placed += await step(m) or 0
            except Exception:  # one bad pass must not stop the loop
                log.exception("%s failed", step.__name__)
        ended = loop.time()
        pause = (ended - started) * (1.0 if placed else FRUITLESS_PAUSE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(m.wake.wait(), timeout=m.settings.schedule_interval)
            # Woken at once again: a burst. Let a few more creates in before the next pass.
            gap = BURST_GAP if loop.time() - ended < BURST_GAP else 0.0
            await asyncio.sleep(min(max(pause, gap), m.settings.schedule_interval))
