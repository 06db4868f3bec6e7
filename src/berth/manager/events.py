"""Events and the EventBus: one interface, an in-process implementation (embedded mode) and
a Redis Streams implementation (several managers).

Events are typed (pydantic models with a literal ``type``, e.g. :class:`SessionStatusEvent`
is ``session.status``); on Redis and on the browser's event stream they travel as the
model's JSON (:func:`event_json`). ``publish`` never blocks on slow subscribers: a subscriber
that falls behind loses the oldest events, and the clients re-read the session to catch up
(the event stream is a hint, the API is the truth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
)

from berth.domain.status import SessionResult, SessionStatus

log = logging.getLogger(__name__)


class SessionStatusEvent(BaseModel):
    """A session changed status (the ``session.status`` event of ``/api/events``)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["session.status"] = "session.status"
    session_id: str
    name: str
    owner_id: str
    creator_id: str
    status: SessionStatus
    status_info: str
    result: SessionResult
    exit_code: int | None
    at: datetime

    @field_serializer("at")
    def _at(self, at: datetime) -> str:
        return at.isoformat()  # the wire keeps Python's form ("+00:00"), as clients parse it


class IdleWarningEvent(BaseModel):
    """An idle check will reclaim a RUNNING session soon (the ``session.idle-warning`` event
    of ``/api/events``), sent once per check and deadline, ``warn_before`` ahead."""

    model_config = ConfigDict(frozen=True)

    type: Literal["session.idle-warning"] = "session.idle-warning"
    session_id: str
    name: str
    owner_id: str
    creator_id: str
    check: Literal["session-lifetime", "network-timeout", "utilization"]
    status_info: str = Field(description="What the session's status_info will be.")
    deadline: datetime
    remaining: float = Field(description="Seconds left when the warning was sent.")
    message: str = Field(description="A sentence for the user, naming the check.")
    at: datetime

    @field_serializer("at", "deadline")
    def _times(self, at: datetime) -> str:
        return at.isoformat()


#: Every event on the bus. A new kind is a model with its own literal ``type`` added to this
#: union.
Event: TypeAlias = Annotated[SessionStatusEvent | IdleWarningEvent, Field(discriminator="type")]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def event_json(event: Event) -> str:
    """The event as JSON: what Redis stores and the event stream sends as ``data``."""
    return event.model_dump_json()


def event_from_json(data: str | bytes) -> Event:
    """Parse :func:`event_json`'s output. Raises pydantic.ValidationError."""
    return _EVENT.validate_json(data)


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def subscribe(self) -> AsyncIterator[Event]:
        """Register now and return the events published from now on (closing the iterator
        unregisters). Awaiting it first lets a caller say "ready" without missing events."""
        ...

    async def close(self) -> None: ...


class MemoryEventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.queues: set[asyncio.Queue[Event]] = set()

    async def publish(self, event: Event) -> None:
        for queue in list(self.queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self.queue_size)
        self.queues.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
        try:
            while True:
                yield await queue.get()
        finally:
            self.queues.discard(queue)

    async def close(self) -> None:
        self.queues.clear()


class RedisEventBus:
    """Events in one Redis stream, trimmed to about ``maxlen`` entries."""

    def __init__(self, url: str, stream: str = "berth:events", maxlen: int = 10000) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.stream = stream
        self.maxlen = maxlen

    async def publish(self, event: Event) -> None:
        await self.redis.xadd(
            self.stream,
            {"e": event_json(event)},
            maxlen=self.maxlen,
            approximate=True,
        )

    async def subscribe(self) -> AsyncIterator[Event]:
        newest = await self.redis.xrevrange(self.stream, count=1)
        return self._read(newest[0][0] if newest else "0-0")

    async def _read(self, last: Any) -> AsyncIterator[Event]:
        while True:
            batches: Any = await self.redis.xread({self.stream: last}, block=5000, count=100)
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    last = entry_id
                    try:
                        event = event_from_json(fields[b"e"])
                    except ValidationError:  # another manager's version: skip, not die
                        log.warning("skipping an event this manager cannot read: %r", fields)
                        continue
                    yield event

    async def close(self) -> None:
        await self.redis.aclose()


def make_event_bus(kind: str, redis_url: str) -> EventBus:
    if kind == "redis":
        return RedisEventBus(redis_url)
    if kind == "memory":
        return MemoryEventBus()
    raise ValueError(f"event_bus must be 'memory' or 'redis', not {kind!r}")
