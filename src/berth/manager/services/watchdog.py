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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
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
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.actions import apply_to_session, run_later
from berth.manager.services.dispatch import schedule_once
from berth.manager.services.isolation import TRANSIENT, fail_internal, fetch_each, graces_of

log = logging.getLogger(__name__)
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


async def _watch_sessions(m: Manager, db: AsyncSession, graces: Graces) -> _Pass:
    ids = list(await db.scalars(select(SessionRow.id).where(SessionRow.status.in_(WATCHED))))
    found, failed = await fetch_each(ids, lambda chunk: _columns(db, chunk))
    # Read after the rows (SQLite's write lock is taken by the first query): a change
    # recorded here never predates one already committed.
    p = _Pass(utcnow(), failed=failed)
    for columns in found:
        session_id = columns[0]
        try:
            view = _view(columns, m.inflight)
            actions = watch_session(view, p.now, graces)
            if any(not isinstance(a, AFTER_COMMIT) for a in actions):
                async with db.begin_nested():
                    p.events += await _apply(db, view, actions)
            p.later += [a for a in actions if isinstance(a, AFTER_COMMIT)]
        except TRANSIENT:
            raise
        except Exception as e:
            p.failed[session_id] = e
    return p


async def _watch_agents(db: AsyncSession, now: datetime, graces: Graces) -> None:
    agents = (await db.scalars(select(AgentRow).where(AgentRow.status == AgentStatus.ALIVE))).all()
    views = [AgentView(a.id, alive=True, last_heartbeat=a.last_heartbeat) for a in agents]
    lost = {a.agent_id: a for a in watch_agents(views, now, graces)}
    for agent in agents:
        if (action := lost.get(agent.id)) is not None:
            agent.status = AgentStatus.LOST
            log.warning("agent %s is silent since %s", agent.id, action.silent_since)


async def watchdog_once(m: Manager) -> None:
    """One watchdog pass over every watched session and every alive agent. A session whose
    row breaks its step is ended as ``internal-error``; the pass goes on with the rest."""
    graces = graces_of(m.settings)
    async with transaction(m.db) as db:
        p = await _watch_sessions(m, db, graces)
        for session_id, error in p.failed.items():
            event = await fail_internal(db, session_id, "watchdog", error, p.now)
            if event is not None:
                p.events.append(event)
        await _watch_agents(db, p.now, graces)
    await m.publish(p.events)
    run_later(m, p.later)


async def run_loops(m: Manager) -> None:
    """The manager's background loop: schedule on every wake-up (a create, a freed kernel)
    or interval; repair at most once per interval, so it never delays a launch."""
    last_watchdog = 0.0
    loop = asyncio.get_running_loop()
    while True:
        m.wake.clear()
        steps = [schedule_once]
        if loop.time() - last_watchdog >= m.settings.schedule_interval:
            steps.append(watchdog_once)
            last_watchdog = loop.time()
        for step in steps:
            try:
                await step(m)
            except Exception:  # one bad pass must not stop the loop
                log.exception("%s failed", step.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(m.wake.wait(), timeout=m.settings.schedule_interval)
