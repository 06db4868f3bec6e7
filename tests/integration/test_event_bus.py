"""Both EventBus implementations: the in-process one and Redis Streams (real Redis)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from berth.manager.events import EventBus, MemoryEventBus, RedisEventBus


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
    await bus.publish({"type": "before", "n": 0})
    first = await bus.subscribe()
    second = await bus.subscribe()
    for n in range(1, 4):
        await bus.publish({"type": "session.status", "n": n})
    for events in (first, second):
        got = [await asyncio.wait_for(anext(events), 10) for _ in range(3)]
        assert [e["n"] for e in got] == [1, 2, 3]
        await events.aclose()  # type: ignore[attr-defined]


async def test_slow_memory_subscriber_loses_oldest_not_newest() -> None:
    bus = MemoryEventBus(queue_size=2)
    events = await bus.subscribe()
    for n in range(5):
        await bus.publish({"n": n})
    assert [(await anext(events))["n"] for _ in range(2)] == [3, 4]
    await events.aclose()  # type: ignore[attr-defined]
    assert not bus.queues
