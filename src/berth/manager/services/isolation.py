"""Keeping the background loops going when one session's row breaks them.

The scheduler, the watchdog and the heartbeat reconciliation each handle many sessions in
one pass. A row they cannot load (a value its column type rejects), cannot understand (slots
that are not numbers) or whose step raises must not stop the pass for everyone else:

- :func:`fetch_each` loads rows in one query and, when that fails, one row at a time, so the
  failure is pinned on the rows that cause it;
- each session's actions are applied in a savepoint of their own (the callers do that);
- :func:`fail_internal` ends a failed session as ERROR ``internal-error`` with
  ``status_data = {"error", "where"}``, written with plain SQL so that it works even for a
  row the ORM cannot load. The session's container, if any, is then an orphan to its agent's
  next heartbeat and removed.

Database errors that say nothing about the row (:data:`TRANSIENT`: the connection broke, a
lock or deadlock) are re-raised: the pass fails as a whole, is logged, and the next one
retries, so no session is ended for a hiccup of the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import String, Table, insert, select, type_coerce, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.reconcile import Graces
from berth.domain.status import SessionResult, SessionStatus, StatusInfo, can_transition
from berth.manager.context import status_event
from berth.manager.db.tables import KernelRow, SessionHistoryRow, SessionRow
from berth.manager.events import Event
from berth.settings import ManagerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
S = SessionStatus
#: Errors of the database itself, not of one row: never blamed on a session.
TRANSIENT: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
_MAX_ERROR = 500


def graces_of(settings: ManagerSettings) -> Graces:
    """The reconciliation's waiting times from the manager's settings."""
    return Graces(
        create_grace=timedelta(seconds=settings.create_grace),
        resend_after=timedelta(seconds=settings.resend_after),
        transition_timeout=timedelta(seconds=settings.transition_timeout),
        heartbeat_timeout=timedelta(seconds=settings.heartbeat_timeout),
    )


def describe(error: BaseException) -> str:
    """``Type: message``, cut to a length fit for ``status_data``."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


async def fetch_each(
    ids: Sequence[str], fetch: Callable[[Sequence[str]], Awaitable[list[T]]]
) -> tuple[list[T], dict[str, Exception]]:
    """``fetch(ids)``, or, when that raises, ``fetch([id])`` for each id. Returns what could be
    fetched and, by session id, why the rest could not. :data:`TRANSIENT` errors propagate."""
    if not ids:
        return [], {}
    try:
        return await fetch(ids), {}
    except TRANSIENT:
        raise
    except Exception:  # find the rows to blame; the others are fetched again one by one
        pass
    fetched: list[T] = []
    failed: dict[str, Exception] = {}
    for one in ids:
        try:
            fetched += await fetch([one])
        except TRANSIENT:
            raise
        except Exception as e:
            failed[one] = e
    return fetched, failed


async def fail_internal(
    db: AsyncSession, session_id: str, where: str, error: BaseException, now: datetime
) -> Event | None:
    """End a session the loops could not handle as ERROR ``internal-error`` (result FAILURE,
    ``status_data = {"error", "where"}``, a history entry), in a savepoint of ``db``'s
    transaction. Logs the failure with the session id. Does nothing to a session that already
    ended. Returns the event to publish after the commit, or None."""
    log.error("%s: session %s failed: %s", where, session_id, describe(error), exc_info=error)
    t = cast(Table, SessionRow.__table__)
    kernels = cast(Table, KernelRow.__table__)
    async with db.begin_nested():
        found = (
            await db.execute(
                select(type_coerce(t.c.status, String), t.c.name, t.c.owner_id, t.c.creator_id)
                .where(t.c.id == session_id)
                .with_for_update()
            )
        ).one_or_none()
        if found is None:
            return None
        raw_status, name, owner_id, creator_id = found
        if raw_status not in set(S) or not can_transition(S(raw_status), S.ERROR):
            return None
        info = str(StatusInfo.INTERNAL_ERROR)
        data = {"error": describe(error), "where": where}
        changed = await db.execute(
            update(t)
            .where(t.c.id == session_id, type_coerce(t.c.status, String) == raw_status)
            .values(
                status=S.ERROR,
                status_info=info,
                status_data=data,
                status_changed_at=now,
                terminated_at=now,
                result=SessionResult.FAILURE,
            )
        )
        if getattr(changed, "rowcount", 1) == 0:
            return None
        await db.execute(
            update(kernels)
            .where(kernels.c.session_id == session_id)
            .values(status=S.ERROR, status_info=info, terminated_at=now)
        )
        await db.execute(
            insert(cast(Table, SessionHistoryRow.__table__)).values(
                session_id=session_id,
                status=str(S.ERROR),
                status_info=info,
                status_data=data,
                at=now,
            )
        )
    # A detached row only to build the event: the ORM never loads or writes this one.
    shown = SessionRow(
        id=session_id,
        name=name,
        owner_id=owner_id,
        creator_id=creator_id,
        status=S.ERROR,
        status_info=info,
        result=SessionResult.FAILURE,
        exit_code=None,
        status_changed_at=now,
    )
    return status_event(shown)
