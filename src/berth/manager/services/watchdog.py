"""Periodic repairs: batch timeouts, sessions stuck in a transitional status, silent agents,
and resuming work a previous manager process left half-done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select

from berth.domain.status import SessionResult, SessionStatus, SessionType, StatusInfo
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.dispatch import dispatch_session, schedule_once, send_kernels
from berth.manager.services.termination import begin_termination, destroy_session

log = logging.getLogger(__name__)
S = SessionStatus
STARTING = (S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING)
#: A session PREPARING this long with no dispatch in flight lost it to a restart: resend.
RESEND_AFTER = timedelta(seconds=10)


async def watchdog_once(m: Manager) -> None:
    now = utcnow()
    deadline = now - timedelta(seconds=m.settings.transition_timeout)
    events: list[Event] = []
    destroy: list[str] = []
    redispatch: list[str] = []
    force: list[str] = []
    resend_ids: list[str] = []
    resend = now - RESEND_AFTER
    async with transaction(m.db) as db:
        rows = (
            await db.scalars(
                select(SessionRow).where(
                    SessionRow.status.in_((S.RUNNING, S.TERMINATING, *STARTING))
                )
            )
        ).all()
        for row in rows:
            if row.status is S.RUNNING:
                if (
                    row.type == SessionType.BATCH
                    and row.timeout_seconds
                    and row.started_at
                    and now >= row.started_at + timedelta(seconds=row.timeout_seconds)
                ):
                    row.result = SessionResult.FAILURE
                    events.append(
                        begin_termination(
                            db,
                            row,
                            StatusInfo.TASK_TIMEOUT,
                            data={"timeout_seconds": row.timeout_seconds},
                        )
                    )
                    destroy.append(row.id)
            elif row.status is S.TERMINATING:
                if row.status_changed_at < deadline:
                    force.append(row.id)
                elif f"destroy:{row.id}" not in m.inflight:
                    destroy.append(row.id)
            elif row.status_changed_at < deadline:
                row.result = SessionResult.FAILURE
                events.append(
                    begin_termination(
                        db,
                        row,
                        StatusInfo.STUCK_TIMEOUT,
                        S.ERROR,
                        StatusInfo.STUCK_TIMEOUT,
                        {
                            "error": f"no progress in {row.status} for "
                            f"{m.settings.transition_timeout:.0f} s",
                            "where": row.status,
                        },
                    )
                )
                destroy.append(row.id)
            elif f"dispatch:{row.id}" not in m.inflight:
                if row.status is S.SCHEDULED:
                    redispatch.append(row.id)
                elif row.status is S.PREPARING and row.status_changed_at < resend:
                    resend_ids.append(row.id)
        silent = now - timedelta(seconds=m.settings.heartbeat_timeout)
        for agent in (
            await db.scalars(
                select(AgentRow).where(AgentRow.status == "ALIVE", AgentRow.last_heartbeat < silent)
            )
        ).all():
            agent.status = "LOST"
            log.warning("agent %s is silent since %s", agent.id, agent.last_heartbeat)
    await m.publish(events)
    for session_id in destroy:
        m.spawn(destroy_session(m, session_id))
    for session_id in force:
        m.spawn(destroy_session(m, session_id, force=True))
    for session_id in redispatch:
        m.spawn(dispatch_session(m, session_id))
    for session_id in resend_ids:
        m.spawn(send_kernels(m, session_id))


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
