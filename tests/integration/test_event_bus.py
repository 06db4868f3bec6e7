"""Both EventBus implementations: the in-process one and Redis Streams (real Redis)."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime

import pytest

from berth.domain.status import SessionResult, SessionStatus
from berth.manager.events import (
    EventBus,
    MemoryEventBus,
    RedisEventBus,
    SessionStatusEvent,
    event_from_json,
    event_json,
)


def status(n: int) -> SessionStatusEvent:
    """The n-th event of a test (its number is the exit code)."""
    return SessionStatusEvent(
        session_id=f"s{n}", name="n", owner_id="u", creator_id="u",
        status=SessionStatus.RUNNING, status_info="started", result=SessionResult.UNDEFINED,
        exit_code=n, at=datetime(2030, 1, 1, tzinfo=UTC))


def _buses() -> list[str]:
    return ["memory", "redis"]


@pytest.fixture(params=_buses())
async def bus(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        b: EventBus = MemoryEventBus()
    else:
        b = RedisEventBus("redis://127.0.0.1:6379/0", stream=f"berth:test:{secrets.token_hex(4)}")
    yield b
    if isinstance(b, RedisEventBus):
        await b.redis.delete(b.stream)
    await b.close()


async def test_subscriber_gets_events_published_after_subscribing(bus: EventBus) -> None:
    await bus.publish(status(0))
    first = await bus.subscribe()
    second = await bus.subscribe()
    for n in range(1, 4):
        await bus.publish(status(n))
    for events in (first, second):
        got = [await asyncio.wait_for(anext(events), 10) for _ in range(3)]
        assert got == [status(1), status(2), status(3)]  # typed, equal after the trip
        await events.aclose()  # type: ignore[attr-defined]


async def test_slow_memory_subscriber_loses_oldest_not_newest() -> None:
    bus = MemoryEventBus(queue_size=2)
    events = await bus.subscribe()
    for n in range(5):
        await bus.publish(status(n))
    assert [(await anext(events)).exit_code for _ in range(2)] == [3, 4]
    await events.aclose()  # type: ignore[attr-defined]
    assert not bus.queues


def test_wire_json_is_what_the_web_ui_reads() -> None:
    """The event stream's ``data`` keeps the keys and forms the web UI and SDK parse."""
    data = json.loads(event_json(status(7)))
    assert data == {"type": "session.status", "session_id": "s7", "name": "n", "owner_id": "u",
                    "creator_id": "u", "status": "RUNNING", "status_info": "started",
                    "result": "UNDEFINED", "exit_code": 7, "at": "2030-01-01T00:00:00+00:00"}
    assert event_from_json(json.dumps(data)) == status(7)
