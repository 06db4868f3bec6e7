"""Traffic between users and their sessions, for the idle checks' network timeout.

The manager sees the traffic it relays: the app proxy (either direction, SSH/SFTP included:
``AppProxy.last_traffic``), the terminal relay (input and output), log follows and event
streams filtered to one session (while they are open). :class:`Activity` keeps the latest time
per session in memory; :func:`flush` writes the changed ones to ``sessions.last_activity_at``
every few seconds in one batched statement, never moving a stored time back. The idle checks
read the later of the stored and the in-memory time, so nothing waits for a flush; a manager
that stops without its last flush (a crash) loses at most one flush interval of traffic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, update

from berth.manager.auth import Actor
from berth.manager.db.engine import transaction
from berth.manager.db.tables import SessionRow

if TYPE_CHECKING:
    from berth.manager.context import Manager

log = logging.getLogger(__name__)
#: Seconds between flushes to the database (at most; the idle loop's interval if shorter).
FLUSH_INTERVAL = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Activity:
    """The latest traffic per session not yet stored, and the sessions watched right now.
    Not thread-safe (event loop only). Memory holds only sessions with traffic since the
    last flush and the ones held open."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self.clock = clock
        self._last: dict[str, datetime] = {}  # changed since the last flush
        self._flushing: dict[str, datetime] = {}  # taken by a flush not yet confirmed
        self._held: dict[str, int] = {}  # open streams per session
        self._proxy_seen: dict[str, float] = {}  # the proxy's times already taken

    def touch(self, session_id: str, at: datetime | None = None) -> None:
        """Traffic of ``session_id`` at ``at`` (default: now). An older time changes nothing."""
        at = at or self.clock()
        if (known := self._last.get(session_id)) is None or at > known:
            self._last[session_id] = at

    @contextmanager
    def hold(self, session_id: str) -> Iterator[None]:
        """While inside, the session counts as having traffic now (an open stream)."""
        self.touch(session_id)
        self._held[session_id] = self._held.get(session_id, 0) + 1
        try:
            yield
        finally:
            left = self._held[session_id] - 1
            if left:
                self._held[session_id] = left
            else:
                del self._held[session_id]
            self.touch(session_id)

    def last(self, session_id: str) -> datetime | None:
        """The latest traffic known in memory (now while held); None: none since the last
        flush (the stored ``last_activity_at`` has it)."""
        if session_id in self._held:
            return self.clock()
        times = [t for t in (self._last.get(session_id), self._flushing.get(session_id)) if t]
        return max(times) if times else None

    def absorb_proxy(self, last_traffic: Mapping[str, float]) -> None:
        """Take the app proxy's times (unix seconds per session) that are new."""
        for session_id, at in last_traffic.items():
            if at > self._proxy_seen.get(session_id, 0.0):
                self._proxy_seen[session_id] = at
                self.touch(session_id, datetime.fromtimestamp(at, UTC))
        for session_id in set(self._proxy_seen) - set(last_traffic):
            del self._proxy_seen[session_id]

    def take(self) -> dict[str, datetime]:
        """The times to store: every change since the last take, and now for the held
        sessions. Call :meth:`done` after writing them."""
        now = self.clock()
        for session_id in self._held:
            self.touch(session_id, now)
        taken, self._last = self._last, {}
        for session_id, at in taken.items():
            if (known := self._flushing.get(session_id)) is None or at > known:
                self._flushing[session_id] = at
        return dict(self._flushing)

    def done(self, stored: bool) -> None:
        """After a flush: stored, forget what was taken; else keep it for the next flush."""
        if stored:
            self._flushing.clear()

    def forget(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            self._last.pop(session_id, None)
            self._flushing.pop(session_id, None)


_STORE = (
    update(SessionRow.__table__)  # type: ignore[arg-type]
    .where(SessionRow.__table__.c.id == bindparam("b_id"))
    .where(or_(SessionRow.__table__.c.last_activity_at.is_(None),
               SessionRow.__table__.c.last_activity_at < bindparam("b_at")))
    .values(last_activity_at=bindparam("b_at"))
)


async def flush(m: Manager) -> int:
    """Store the changed times (one statement, executed for each changed session in one
    transaction); returns how many. Raises what the database raises; the times are kept for
    the next flush then."""
    activity = m.activity
    activity.absorb_proxy(m.proxy.last_traffic)
    changes = activity.take()
    if not changes:
        return 0
    stored = False
    try:
        async with transaction(m.db) as db:
            await db.execute(_STORE, [{"b_id": sid, "b_at": at} for sid, at in changes.items()])
        stored = True
    finally:
        activity.done(stored)
    return len(changes)


async def visible_session_id(m: Manager, actor: Actor, ref: str) -> str | None:
    """The id of the session ``ref`` names if ``actor`` may see it (whose traffic then
    counts), else None."""
    from berth.manager.services.sessions import find_session  # sessions imports much

    try:
        async with m.db() as db:
            return (await find_session(db, actor, ref)).id
    except (PermissionError, LookupError):
        return None


async def held_while_open(activity: Activity, session_id: str, stream: AsyncIterator[bytes]
                          ) -> AsyncIterator[bytes]:
    """``stream``, the session counting as having traffic while it is open (a log follow)."""
    with activity.hold(session_id):
        async for chunk in stream:
            yield chunk
