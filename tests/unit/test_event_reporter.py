"""The agent's kernel-event reporter (``HttpReporter``) against a stand-in manager (an httpx
MockTransport): events go out in order, batched while a post is in flight, at most
MAX_EVENTS_PER_POST a post; the queue is bounded (the oldest dropped, logged); a failing
manager costs a bounded number of tries and never blocks whoever reports."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from berth.agent.server import HttpReporter
from berth.rpc import MAX_EVENTS_PER_POST, RPC_VERSION, EventKind, KernelEvent, KernelReport
from berth.rpc import KernelState as St

AGENT = "agent-1"


def event(kernel_id: str, kind: EventKind = EventKind.STARTED) -> KernelEvent:
    state = St.EXITED if kind is EventKind.EXITED else St.RUNNING
    report = KernelReport(kernel_id=kernel_id, session_id=f"s-{kernel_id}", state=state)
    return KernelEvent(agent_id=AGENT, kind=kind, kernel=report)


class Manager:
    """Records each post's events as (kind, kernel id); answers ``status``. While ``gate`` is
    clear, a post waits (in flight) after it was recorded as entered."""

    def __init__(self) -> None:
        self.posts: list[list[tuple[str, str]]] = []
        self.tries = 0
        self.status = 204
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/agent/v1/events"
        body = json.loads(request.content)
        assert body["rpc_version"] == RPC_VERSION and body["agent_id"] == AGENT
        self.tries += 1
        self.entered.set()
        await self.gate.wait()
        if self.status >= 300:
            return httpx.Response(self.status)
        self.posts.append([(e["kind"], e["kernel"]["kernel_id"]) for e in body["events"]])
        return httpx.Response(self.status)

    def received(self) -> list[tuple[str, str]]:
        return [e for post in self.posts for e in post]


@asynccontextmanager
async def reporter(manager: Manager, **kwargs: Any) -> AsyncIterator[HttpReporter]:
    client = httpx.AsyncClient(base_url="http://manager",
                               transport=httpx.MockTransport(manager.handle))
    r = HttpReporter(client, AGENT, **kwargs)
    r.start()
    try:
        yield r
    finally:
        await r.close(wait=1)
        await client.aclose()


async def until(predicate: Callable[[], object], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_events_gathered_during_a_post_go_out_together_in_order() -> None:
    manager = Manager()
    manager.gate.clear()
    async with reporter(manager) as r:
        await r.event(event("k0"))
        await asyncio.wait_for(manager.entered.wait(), 5)  # k0 alone, in flight
        sent = [("started", "k0")]
        for i in range(1, 301):
            kind = EventKind.EXITED if i % 2 == 0 else EventKind.STARTED
            # Each kernel's started comes before its exited; the reporter must keep that.
            k = f"k{i - 1}" if kind is EventKind.EXITED else f"k{i}"
            await r.event(event(k, kind))
            sent.append((str(kind), k))
        manager.gate.set()
        await until(lambda: len(manager.received()) == len(sent))
    assert manager.received() == sent
    assert [len(p) for p in manager.posts] == [1, MAX_EVENTS_PER_POST, 300 - MAX_EVENTS_PER_POST]


async def test_a_full_queue_drops_the_oldest_events_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    manager = Manager()
    manager.gate.clear()
    with caplog.at_level(logging.WARNING, logger="berth.agent.server"):
        async with reporter(manager, limit=5) as r:
            await r.event(event("k0"))
            await asyncio.wait_for(manager.entered.wait(), 5)
            for i in range(1, 9):
                await r.event(event(f"k{i}"))
            assert [e.kernel.kernel_id for e in r.queue] == ["k4", "k5", "k6", "k7", "k8"]
            manager.gate.set()
            await until(lambda: len(manager.received()) == 6)
    assert manager.posts == [[("started", "k0")],
                             [("started", f"k{i}") for i in range(4, 9)]]
    warnings = [rec.getMessage() for rec in caplog.records]
    assert any("queue full" in w and "k1" in w for w in warnings), warnings
    assert any("dropped 3 kernel events" in w for w in warnings), warnings


async def test_a_failing_manager_costs_bounded_tries_and_blocks_nobody(
        caplog: pytest.LogCaptureFixture) -> None:
    manager = Manager()
    manager.status = 503
    with caplog.at_level(logging.WARNING, logger="berth.agent.server"):
        async with reporter(manager, tries=3, retry_delay=0.01) as r:
            started = time.monotonic()
            await r.event(event("lost"))
            assert time.monotonic() - started < 0.5  # reporting never waits for the manager
            await until(lambda: manager.tries == 3 and not r.queue)
            await until(lambda: any("could not report 1 kernel events" in rec.getMessage()
                                    for rec in caplog.records))
            # The manager is back: the next events go out (the lost one was dropped).
            manager.status = 204
            await r.event(event("next"))
            await until(lambda: manager.received() == [("started", "next")])
    assert manager.tries == 4


async def test_a_rejected_post_is_not_tried_again() -> None:
    manager = Manager()
    manager.status = 400  # e.g. another RPC version: trying again cannot help
    async with reporter(manager, tries=3, retry_delay=0.01) as r:
        await r.event(event("k"))
        await until(lambda: manager.tries == 1 and not r.queue)
        manager.status = 204
        await r.event(event("k2"))
        await until(lambda: manager.received() == [("started", "k2")])
    assert manager.tries == 2


async def test_close_posts_what_is_queued() -> None:
    manager = Manager()
    client = httpx.AsyncClient(base_url="http://manager",
                               transport=httpx.MockTransport(manager.handle))
    r = HttpReporter(client, AGENT)
    r.start()
    for i in range(3):
        await r.event(event(f"k{i}"))
    await r.close(wait=5)
    await client.aclose()
    assert manager.received() == [("started", f"k{i}") for i in range(3)]


async def test_the_sender_outlives_an_unexpected_error(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    manager = Manager()
    broken = {"once": True}
    handle = manager.handle

    async def flaky(request: httpx.Request) -> httpx.Response:
        if broken.pop("once", False):
            raise RuntimeError("not an HTTP error")  # e.g. a bug below httpx
        return await handle(request)

    manager.handle = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="berth.agent.server"):
        async with reporter(manager) as r:
            await r.event(event("first"))
            await until(lambda: any("posting 1 kernel events failed" in rec.getMessage()
                                    for rec in caplog.records))
            await r.event(event("second"))
            await until(lambda: manager.received() == [("started", "second")])
