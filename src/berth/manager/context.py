"""What the manager's services share: settings, database, event bus, agent client, and the
status-change primitive every service uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth.domain.status import SessionStatus, StatusInfo, check_transition
from berth.manager.agent_client import AgentClient
from berth.manager.db.history import add_history
from berth.manager.db.tables import SessionRow, utcnow
from berth.manager.events import Event, EventBus, SessionStatusEvent
from berth.manager.services.activity import Activity
from berth.manager.services.folder_usage import UsageCache
from berth.manager.services.handover_batch import Handover, SendQueue
from berth.manager.services.live_usage import LiveUsage
from berth.proxy.server import AppProxy
from berth.settings import ManagerSettings

if TYPE_CHECKING:
    from berth.manager.services.agents import BeatMemory

log = logging.getLogger(__name__)
#: Batches handed to agents at once (see :meth:`Manager.send_later`).
SENDERS = 8


@dataclass
class Manager:
    settings: ManagerSettings
    db: async_sessionmaker[AsyncSession]
    bus: EventBus
    agents: AgentClient
    proxy: AppProxy
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: Keys of work in progress in this process ("dispatch:<id>", "destroy:<id>"), so the
    #: watchdog does not start the same work twice; empty after a restart, which resumes it.
    inflight: set[str] = field(default_factory=set)
    #: Folder sizes measured in the background (see :mod:`.services.folder_usage`).
    usage: UsageCache = field(default_factory=UsageCache)
    #: The kernels' live usage as the agents report it (see :mod:`.services.live_usage`).
    live: LiveUsage = field(default_factory=LiveUsage)
    #: Per agent: what its last heartbeats said (see :mod:`.services.agents`).
    beats: dict[str, BeatMemory] = field(default_factory=dict)
    #: Sessions waiting to be handed to their agent, grouped per agent (their
    #: "dispatch:<id>" key is in ``inflight`` already), and how many senders work that
    #: queue (bounded; see :func:`.services.handover.queue_send`).
    sending: SendQueue = field(default_factory=SendQueue)
    senders: int = 0
    #: Traffic between users and sessions not yet stored (see :mod:`.services.activity`).
    activity: Activity = field(default_factory=Activity)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run work in the background; errors are logged (the watchdog repairs what's left)."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def send_later(self, sessions: Iterable[Handover],
                   send: Callable[[list[str]], Awaitable[None]]) -> None:
        """Queue each session not already being dispatched in this process, and work the
        queue with at most :data:`SENDERS` senders, each calling ``send(session_ids)`` for
        one batch at a time (:meth:`SendQueue.take`: one agent's sessions, a request's worth
        of kernels): a burst of placements never opens a task, a database connection or an
        agent request per session. ``send`` is the hand-over's (every caller passes the same
        function). Errors are logged; the watchdog sends a session again if it is left. Each
        session's "dispatch:<id>" key is released when its batch is done."""
        for item in sessions:
            key = f"dispatch:{item.session_id}"
            if key in self.inflight:
                continue
            self.inflight.add(key)
            self.sending.put(item)
        while self.senders < min(SENDERS, self.sending.batches()):
            self.senders += 1
            self.spawn(self._sender(send))

    async def _sender(self, send: Callable[[list[str]], Awaitable[None]]) -> None:
        try:
            while batch := self.sending.take():
                ids = [item.session_id for item in batch]
                try:
                    await send(ids)
                except Exception:
                    log.exception("dispatch of sessions %s failed", ", ".join(ids))
                finally:
                    for session_id in ids:
                        self.inflight.discard(f"dispatch:{session_id}")
        finally:
            self.senders -= 1

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            await self.bus.publish(event)


def status_event(row: SessionRow) -> SessionStatusEvent:
    """The ``session.status`` event announcing ``row``'s current status."""
    return SessionStatusEvent(
        session_id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        creator_id=row.creator_id,
        status=row.status,
        status_info=row.status_info,
        result=row.result,
        exit_code=row.exit_code,
        at=row.status_changed_at,
    )


def change_status(
    db: AsyncSession,
    row: SessionRow,
    new: SessionStatus,
    info: StatusInfo | str,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Event:
    """Move a session (and its kernels) to ``new`` as the transition table allows, storing
    the reason and a history entry. Raises InvalidTransition. Returns the event to publish
    after the transaction commits."""
    check_transition(row.status, new)
    now = now or utcnow()
    row.status = new
    row.status_info = str(info)
    row.status_data = data or {}
    row.status_changed_at = now
    if new is SessionStatus.RUNNING and row.started_at is None:
        row.started_at = now
    if new in (SessionStatus.TERMINATED, SessionStatus.CANCELLED, SessionStatus.ERROR):
        row.terminated_at = now
    for kernel in row.kernels:
        kernel.status = new
        kernel.status_info = str(info)
        if new is SessionStatus.RUNNING and kernel.started_at is None:
            kernel.started_at = now
        if row.terminated_at is not None:
            kernel.terminated_at = now
    add_history(db, row.id, str(new), str(info), row.status_data, now)
    return status_event(row)
