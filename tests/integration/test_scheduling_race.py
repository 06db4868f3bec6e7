"""Two schedulers on one database never overcommit an agent.

Each "manager" here is the real scheduler pass (:func:`schedule_once`) with an engine of its
own, so the two work through separate connections and transactions, as two manager processes
would. Agents are plain rows (no agent process, no engine: nothing is sent to them), the
sessions plain PENDING rows with one kernel each.

- ``test_a_stale_plan_is_rejected``: manager A makes its plan, manager B places sessions on
  the same agent and commits before A applies; A must notice and leave its sessions PENDING
  (without the check A would put 4 cores on a 2-core agent).
- ``test_a_stale_plan_is_rejected_for_its_devices`` (PostgreSQL): the slot counts fit, but B
  gave a device whole that A planned to share; A's sessions wait.
- ``test_two_racing_schedulers_never_overcommit``: two scheduler loops race over many pending
  sessions of different sizes on a few agents while a third task ends running sessions; a
  checker reads every agent's occupancy throughout, and at the end. (SQLite has one writer
  at a time, so there the race is only between whole passes; fewer sessions.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth.domain import devices as dv
from berth.domain import slots as sl
from berth.domain.status import OCCUPYING, SessionStatus
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    SessionRow,
    UserRow,
    utcnow,
)
from berth.manager.services import dispatch
from cluster import fresh_database, run_async

IMAGE = "berth/python:3.11"
GiB = 2**30
S = SessionStatus


@dataclass
class FakeManager:
    """What :func:`schedule_once` uses of a Manager; kernels are not sent anywhere."""

    db: async_sessionmaker[AsyncSession]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: set[str] = field(default_factory=set)
    placed: int = 0

    async def publish(self, events: list[Any]) -> None:
        return None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        coro.close()
        self.placed += 1

    def send_later(self, session_ids: Iterable[str], send: Any) -> None:
        self.placed += len(list(session_ids))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty, migrated database of its own."""
    with fresh_database(request.param, "berth_race") as url:
        yield url


async def seed(db: AsyncSession, agents: dict[str, sl.Slots],
               sessions: list[sl.Slots]) -> list[str]:
    """A user, a project, the default group, ``agents`` (id -> capacity) with the image, and
    one PENDING session per request, a second apart in creation order. Returns their ids."""
    user = UserRow(email="race@example.com", password_hash="x")
    project = ProjectRow(name="race")
    db.add_all([user, project, ResourceGroupRow(name="default")])
    await db.flush()
    for agent_id, capacity in agents.items():
        db.add(AgentRow(id=agent_id, address=f"http://{agent_id}", resource_group="default",
                        capacity=sl.to_json(capacity)))
    db.add(ImageRow(ref=IMAGE, display_name="Python", version="3.11", agents=list(agents)))
    start = utcnow() - timedelta(hours=1)
    ids = []
    for n, requested in enumerate(sessions):
        row = SessionRow(name=f"s{n:04d}", owner_id=user.id, creator_id=user.id,
                         project_id=project.id, type="interactive", image=IMAGE,
                         requested_slots=sl.to_json(requested),
                         created_at=start + timedelta(seconds=n))
        db.add(row)
        await db.flush()
        db.add(KernelRow(session_id=row.id))
        ids.append(row.id)
    return ids


async def overcommitted(db: AsyncSession) -> list[str]:
    """Every agent slot that its occupying sessions exceed, as readable lines."""
    capacity = {a.id: sl.from_json(a.capacity) for a in (await db.scalars(select(AgentRow)))}
    held: dict[str, sl.Slots] = {}
    rows = await db.execute(select(SessionRow.agent_id, SessionRow.requested_slots,
                                   SessionRow.cluster_size)
                            .where(SessionRow.status.in_(OCCUPYING)))
    for agent_id, requested, size in rows.all():
        held[agent_id] = sl.add(held.get(agent_id, {}), sl.scale(sl.from_json(requested), size))
    return [f"{a}: {k} {v} > {capacity[a].get(k, Decimal(0))}"
            for a, h in held.items() for k, v in h.items()
            if sl.is_capacity(k) and v > capacity[a].get(k, Decimal(0))]


async def statuses(db: AsyncSession, ids: list[str]) -> list[S]:
    found = dict((await db.execute(select(SessionRow.id, SessionRow.status)
                                   .where(SessionRow.id.in_(ids)))).all())
    return [found[i] for i in ids]


def test_a_stale_plan_is_rejected(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        engines = [make_engine(database), make_engine(database)]
        a, b = (FakeManager(make_sessionmaker(e)) for e in engines)
        try:
            async with transaction(a.db) as db:
                ids = await seed(db, {"x": sl.slots(cpu=2, mem=8 * GiB)},
                                 [sl.slots(cpu=1, mem=GiB)] * 4)
            real = dispatch._reject_stale
            calls = 0

            async def b_commits_first(db: AsyncSession, plan: Any, pending: Any) -> set[str]:
                nonlocal calls
                calls += 1
                if calls == 1:  # A has planned: B runs a whole pass and commits now
                    await dispatch.schedule_once(b)  # type: ignore[arg-type]
                return await real(db, plan, pending)

            monkeypatch.setattr(dispatch, "_reject_stale", b_commits_first)
            if "sqlite" in database:
                # One writer: B cannot commit while A's transaction is open; A's snapshot is
                # never stale. B's pass waits for the lock; run it after A instead.
                monkeypatch.setattr(dispatch, "_reject_stale", real)
                await dispatch.schedule_once(a)  # type: ignore[arg-type]
                await dispatch.schedule_once(b)  # type: ignore[arg-type]
            else:
                monkeypatch.setattr(dispatch, "BATCH", 2)  # A takes s0, s1; B s2, s3
                await dispatch.schedule_once(a)  # type: ignore[arg-type]
            async with a.db() as db:
                assert await overcommitted(db) == []
                got = await statuses(db, ids)
            if "sqlite" in database:
                assert got == [S.PREPARING, S.PREPARING, S.PENDING, S.PENDING]
            else:
                assert got == [S.PENDING, S.PENDING, S.PREPARING, S.PREPARING]
                assert (a.placed, b.placed) == (0, 2)
                assert a.wake.is_set()  # A tries its sessions again at once
        finally:
            for e in engines:
                await e.dispose()

    run_async(go())


def test_two_racing_schedulers_never_overcommit(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(9)
    agents = {f"agent-{i}": sl.slots(cpu=c, mem=m * GiB)
              for i, (c, m) in enumerate([(4, 8), (3, 16), (8, 4)])}
    sessions = [sl.slots(cpu=rnd.choice(["0.5", "1", "1.5", "2"]),
                         mem=rnd.choice([GiB // 2, GiB, 2 * GiB]))
                for _ in range(240 if "postgres" in database else 80)]
    monkeypatch.setattr(dispatch, "BATCH", 25)  # both get rows to plan at the same time

    async def go() -> None:
        engines = [make_engine(database) for _ in range(3)]
        a, b, other = (FakeManager(make_sessionmaker(e)) for e in engines)
        violations: list[str] = []
        try:
            async with transaction(a.db) as db:
                ids = await seed(db, agents, sessions)
            done = asyncio.Event()

            async def scheduler(m: FakeManager) -> None:
                # A pass on SQLite runs without yielding (its driver runs each statement on
                # the loop's thread): a random pause lets either manager find the room the
                # ender frees first, as two processes would.
                while not done.is_set():
                    await dispatch.schedule_once(m)  # type: ignore[arg-type]
                    await asyncio.sleep(rnd.random() / 500)

            async def ender() -> None:
                """Ends a few occupying sessions at a time, until every session has run."""
                while True:
                    async with transaction(other.db) as db:
                        running = list(await db.scalars(
                            select(SessionRow.id).where(SessionRow.status.in_(OCCUPYING))))
                        left = await db.scalar(select(SessionRow.id).where(
                            SessionRow.status == S.PENDING).limit(1))
                        if not running and left is None:
                            done.set()
                            return
                        end = rnd.sample(running, min(len(running), 3))
                        await db.execute(update(SessionRow).where(SessionRow.id.in_(end))
                                         .values(status=S.TERMINATED))
                    await asyncio.sleep(0.02)

            async def checker() -> None:
                while not done.is_set():
                    async with other.db() as db:
                        violations.extend(await overcommitted(db))
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(
                asyncio.gather(scheduler(a), scheduler(b), ender(), checker()), 240)
            async with a.db() as db:
                assert await overcommitted(db) == []
                assert set(await statuses(db, ids)) == {S.TERMINATED}
        finally:
            for e in engines:
                await e.dispose()
        assert violations == []
        assert a.placed + b.placed == len(sessions)
        assert a.placed > 0 and b.placed > 0, (a.placed, b.placed)

    run_async(go())


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """An empty, migrated PostgreSQL database of its own (two writers can interleave)."""
    with fresh_database("postgres", "berth_race") as url:
        yield url


def test_a_stale_plan_is_rejected_for_its_devices(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot counts still fit, but B gave device 0 whole to one of its sessions after A
    planned shares of device 0: A's sessions wait (a device is never whole and shared)."""
    prefix = "mock-gpu"
    dev, shares = dv.device_slot(prefix), dv.shares_slot(prefix)
    for name in (dev, shares):
        sl.register_slot(name, "mock GPU (MOCK)")
    monkeypatch.setattr(dispatch, "BATCH", 2)  # A takes s0, s1; B s2, s3
    database = postgres_database

    async def go() -> None:
        engines = [make_engine(database), make_engine(database)]
        a, b = (FakeManager(make_sessionmaker(e)) for e in engines)
        try:
            devices = [dv.Device(str(i), 16 * GiB, "Mock") for i in range(2)]
            async with transaction(a.db) as db:
                ids = await seed(
                    db, {"x": {**sl.slots(cpu=8, mem=32 * GiB), **dv.capacity(devices, prefix)}},
                    [{**sl.slots(cpu=1, mem=GiB), shares: Decimal("0.5")}] * 2
                    + [{**sl.slots(cpu=1, mem=GiB), dev: Decimal(1)}] * 2)
                await db.execute(update(AgentRow).values(info={"accelerators": [{
                    "name": prefix, "devices": [
                        {"id": d.id, "memory": d.memory, "model": d.model} for d in devices]}]}))
            real = dispatch._reject_stale
            calls = 0

            async def b_commits_first(db: AsyncSession, plan: Any, pending: Any) -> set[str]:
                nonlocal calls
                calls += 1
                if calls == 1:  # A planned shares of device 0: B gives both devices whole
                    planned = [{d for a in plan.devices[i][0] for d in a.devices}
                               for i in ids[:2]]
                    assert planned == [{"0"}, {"0"}], planned
                    await dispatch.schedule_once(b)  # type: ignore[arg-type]
                return await real(db, plan, pending)

            monkeypatch.setattr(dispatch, "_reject_stale", b_commits_first)
            await dispatch.schedule_once(a)  # type: ignore[arg-type]
            async with a.db() as db:
                got = await statuses(db, ids)
                held = dict((await db.execute(select(KernelRow.session_id,
                                                     KernelRow.accelerators))).all())
            assert got == [S.PENDING, S.PENDING, S.PREPARING, S.PREPARING]
            assert (a.placed, b.placed) == (0, 2)
            assert held[ids[0]] is None and held[ids[1]] is None  # A wrote nothing
            whole = sorted(d for i in ids[2:] for alloc in held[i] for d in alloc["devices"])
            assert whole == ["0", "1"]
        finally:
            for e in engines:
                await e.dispose()
            for name in (dev, shares):
                sl.SLOT_TYPES.pop(name, None)
                sl.ACCELERATOR_SLOTS.pop(name, None)

    run_async(go())
