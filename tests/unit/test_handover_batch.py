"""The hand-over's batching (berth.manager.services.handover_batch): one agent's sessions per
batch, at most a request's worth of kernels, a session's kernels never split, agents taking
turns; and the manager's send queue working it with bounded senders."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from berth.manager.context import SENDERS, Manager
from berth.manager.services.handover_batch import Handover, SendQueue, split
from berth.rpc import MAX_KERNELS_PER_BATCH


def drain(q: SendQueue) -> list[list[Handover]]:
    batches = []
    while batch := q.take():
        batches.append(batch)
    return batches


def test_one_agents_sessions_go_in_batches_of_at_most_a_requests_kernels() -> None:
    q = SendQueue()
    for n in range(200):
        q.put(Handover(f"s{n}", "a1"))
    assert len(q) == 200 and q.batches() == 4
    batches = drain(q)
    assert [len(b) for b in batches] == [64, 64, 64, 8]
    assert [h.session_id for b in batches for h in b] == [f"s{n}" for n in range(200)]
    assert len(q) == 0 and q.batches() == 0 and q.take() == []


def test_a_clusters_kernels_are_never_split() -> None:
    q = SendQueue()
    q.put(Handover("small", "a1", kernels=40))
    q.put(Handover("cluster", "a1", kernels=30))  # 70 > 64: waits for the next batch
    q.put(Handover("one", "a1"))
    assert [[h.session_id for h in b] for b in drain(q)] == [["small"], ["cluster", "one"]]


def test_agents_take_turns() -> None:
    q = SendQueue(limit=2)
    for n in range(5):
        q.put(Handover(f"a{n}", "a"))
    q.put(Handover("b0", "b"))
    q.put(Handover("c0", None))  # queued by id alone: a line of its own
    assert [[h.session_id for h in b] for b in drain(q)] == [
        ["a0", "a1"], ["b0"], ["c0"], ["a2", "a3"], ["a4"]]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]),
                          st.integers(1, MAX_KERNELS_PER_BATCH)), max_size=60))
def test_every_session_is_taken_once_in_batches_of_one_agent(
        items: list[tuple[str | None, int]]) -> None:
    q = SendQueue()
    for n, (agent, kernels) in enumerate(items):
        q.put(Handover(str(n), agent, kernels))
    batches = drain(q)
    assert sorted(int(h.session_id) for b in batches for h in b) == list(range(len(items)))
    for b in batches:
        assert len({h.agent_id for h in b}) == 1
        assert len(b) == 1 or sum(h.kernels for h in b) <= MAX_KERNELS_PER_BATCH
        # each agent's sessions leave in the order they came
        assert [int(h.session_id) for h in b] == sorted(int(h.session_id) for h in b)


def test_split_groups_by_key_in_runs_of_bounded_weight() -> None:
    items = [("a", 1, 30), ("b", 2, 1), ("a", 3, 30), ("a", 4, 10), ("a", 5, 64), ("b", 6, 2)]
    assert split(items, limit=64) == [("a", [1, 3]), ("a", [4]), ("a", [5]), ("b", [2, 6])]
    assert split([("a", 1, 100)], limit=64) == [("a", [1])]
    assert split([]) == []


def manager() -> Manager:
    return Manager(settings=None, db=None, bus=None, agents=None,  # type: ignore[arg-type]
                   proxy=None)  # type: ignore[arg-type]


async def test_the_send_queue_sends_batches_with_bounded_senders() -> None:
    m = manager()
    sent: list[list[str]] = []
    running = 0
    most = 0
    release, full = asyncio.Event(), asyncio.Event()

    async def send(ids: list[str]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == SENDERS:
            full.set()
        assert all(f"dispatch:{i}" in m.inflight for i in ids)
        await release.wait()
        sent.append(ids)
        running -= 1

    # 20 agents' bursts: more batches than senders
    m.send_later([Handover(f"{a}-{n}", f"agent{a}") for a in range(20) for n in range(100)],
                 send)
    assert m.senders == SENDERS
    m.send_later([Handover("0-0", "agent0")], send)  # being sent already: not queued again
    assert len(m.sending) == 2000  # none taken yet (the senders have not run)
    async with asyncio.timeout(10):
        await full.wait()  # every sender holds a batch: no more run at once
    assert len(m.sending) == 2000 - SENDERS * 64
    release.set()
    async with asyncio.timeout(10):
        await asyncio.wait(set(m.tasks))
    assert m.senders == 0
    assert most == SENDERS
    assert sorted(i for ids in sent for i in ids) == sorted(
        f"{a}-{n}" for a in range(20) for n in range(100))
    assert len(sent) == 20 * 2  # 100 sessions an agent: 64 + 36
    assert m.inflight == set()  # every key released


async def test_a_failed_batch_releases_its_keys_and_the_queue_goes_on() -> None:
    m = manager()
    sent: list[list[str]] = []

    async def send(ids: list[str]) -> None:
        if ids == ["bad"]:
            raise RuntimeError("boom")
        sent.append(ids)

    m.send_later([Handover("bad", "a"), Handover("good", "b")], send)
    async with asyncio.timeout(10):
        await asyncio.wait(set(m.tasks))
    assert m.senders == 0
    assert sent == [["good"]]
    assert m.inflight == set()
