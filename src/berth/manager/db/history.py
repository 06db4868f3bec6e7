"""Session history entries, written in bulk.

A status change adds one ``session_history`` row. Added as ORM objects, each cost an
``INSERT ... RETURNING id`` of its own (the ORM learns every new row's integer key; measured
on SQLite: one statement per row), so a pass that moves 64 sessions paid 64 statements for
rows nobody reads back in the same transaction. :func:`add_history` queues the entry on the
database session instead, and the listeners below write all queued entries in one insert:

- after each flush (so the rows of new sessions they name are in the table first);
- before a commit, flushing first if entries are queued (nothing is lost when the last
  change was queued after the last flush);
- and a rollback, of the transaction or of a savepoint, forgets the queue: what was queued
  inside a savepoint was not flushed yet when it rolled back (starting a savepoint flushes
  what came before it), so nothing of the enclosing transaction is dropped.

Readers see the entries once the change that made them is flushed, as with ORM objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from berth.manager.db.tables import SessionHistoryRow

_QUEUED = "berth_history"


def add_history(db: AsyncSession | Session, session_id: str, status: str, status_info: str,
                status_data: dict[str, Any], at: datetime) -> None:
    """Queue one history entry of ``session_id``; it is written with the next flush of
    ``db``'s transaction (at the latest before it commits)."""
    sync = db.sync_session if isinstance(db, AsyncSession) else db
    sync.info.setdefault(_QUEUED, []).append({
        "session_id": session_id, "status": status, "status_info": status_info,
        "status_data": status_data, "at": at})


def _write(session: Session) -> None:
    rows = session.info.pop(_QUEUED, None)
    if rows:
        session.connection().execute(insert(SessionHistoryRow), rows)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_QUEUED):
        session.flush()  # the sessions they name first; writes them unless nothing was dirty
        _write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_QUEUED, None)
