"""Ending sessions: start termination, destroy kernels on their agents, record the end.

A session being ended sits in TERMINATING with ``status_data["final"]`` saying how it will
end (TERMINATED or ERROR, with which reason); :func:`destroy_session` carries that out once
the agent confirms the kernels are gone. Safe to repeat after a manager restart.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.status import (
    ENDED,
    SessionResult,
    SessionStatus,
    StatusInfo,
)
from berth.manager.agent_client import AgentUnreachable
from berth.manager.context import Manager, change_status
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.commit_guard import check_termination
from berth.manager.services.isolation import TRANSIENT, fail_internal

log = logging.getLogger(__name__)
S = SessionStatus


def begin_termination(
    db: AsyncSession,
    row: SessionRow,
    info: StatusInfo,
    final_status: SessionStatus = S.TERMINATED,
    final_info: StatusInfo | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Move a not-yet-ended session towards its end. PENDING sessions are CANCELLED at once;
    others go to TERMINATING and need :func:`destroy_session` (the caller spawns it)."""
    if row.status is S.PENDING:
        return change_status(db, row, S.CANCELLED, info, data)
    final = {"status": str(final_status), "status_info": str(final_info or info)}
    return change_status(db, row, S.TERMINATING, info, {**(data or {}), "final": final})


def fail_immediately(
    db: AsyncSession, row: SessionRow, info: StatusInfo, data: dict[str, Any]
) -> Event:
    """End a session as ERROR without waiting for its agent (nothing left to clean up)."""
    row.result = SessionResult.FAILURE
    return change_status(db, row, S.ERROR, info, data)


async def destroy_session(
    m: Manager, session_id: str, grace: float = 10.0, force: bool = False
) -> None:
    """Destroy the kernels of a TERMINATING session and record its final status.

    Idempotent and restart-safe. When the agent cannot be reached the session stays
    TERMINATING (the watchdog retries) unless ``force`` is set, which ends it anyway and
    notes the failed clean-up in ``status_data``. A session whose row breaks this (not the
    database or the agent) is ended as ERROR ``internal-error``.
    """
    key = f"destroy:{session_id}"
    if key in m.inflight and not force:
        return
    m.inflight.add(key)
    try:
        await _destroy(m, session_id, grace, force)
    except TRANSIENT:
        raise
    except Exception as e:  # e.g. a row whose data breaks the end: retrying would not help
        async with transaction(m.db) as db:
            event = await fail_internal(db, session_id, "destroy", e, utcnow())
        await m.publish([event] if event else [])
    finally:
        m.inflight.discard(key)


async def _destroy(m: Manager, session_id: str, grace: float, force: bool) -> None:
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, session_id, with_for_update=True)
        if row is None or row.status is not S.TERMINATING:
            return
        targets = []
        for kernel in row.kernels:
            agent = await db.get(AgentRow, kernel.agent_id) if kernel.agent_id else None
            if agent is not None:
                targets.append((kernel.id, agent.address))
    cleanup_error = None
    exit_code = None
    for kernel_id, address in targets:
        try:
            result = await m.agents.destroy_kernel(address, kernel_id, 0 if force else grace)
            exit_code = result.exit_code if exit_code is None else exit_code
        except AgentUnreachable as e:
            if not force:
                log.warning("destroy of %s postponed: %s", session_id, e)
                return
            cleanup_error = str(e)
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, session_id, with_for_update=True)
        if row is None or row.status is not S.TERMINATING:
            return
        data = dict(row.status_data)
        final = data.pop("final", {"status": str(S.TERMINATED), "status_info": row.status_info})
        if row.exit_code is None:
            row.exit_code = exit_code
        if row.exit_code is not None:
            data["exit_code"] = row.exit_code
        if cleanup_error:
            data["cleanup_error"] = cleanup_error
        event = change_status(db, row, S(final["status"]), final["status_info"], data)
    m.live.forget(kernel_id for kernel_id, _ in targets)  # their live usage ends with them
    await m.publish([event])
    m.wake.set()  # freed resources may let a pending session start


async def terminate(m: Manager, row_id: str, force: bool, info: StatusInfo) -> SessionRow:
    """User-requested termination. Raises ValueError when the session already ended."""
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, row_id, with_for_update=True)
        assert row is not None
        if row.status in ENDED:
            raise ValueError(f"the session has already ended ({row.status})")
        await check_termination(db, row.id, force)  # a commit running (issue 12)
        events = []
        if row.status is S.TERMINATING:
            if not force:
                raise ValueError("the session is already terminating; use force to kill it")
            row.status_data = {**row.status_data, "forced": True}
        else:
            events.append(begin_termination(db, row, info))
    await m.publish(events)
    if row.status is S.TERMINATING:
        if force:
            await destroy_session(m, row.id, force=True)
        else:
            m.spawn(destroy_session(m, row.id))
    m.wake.set()
    async with m.db() as db:
        fresh = await db.get(SessionRow, row_id)
        assert fresh is not None
        return fresh
