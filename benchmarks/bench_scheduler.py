"""Scheduler throughput: placements per second, pure and through the database.

    uv run python benchmarks/bench_scheduler.py [--agents N] [--pending 1000,10000,100000]
                                                [--db-pending N] [--db sqlite,postgres]

(a) The pure scheduler (:func:`berth.domain.scheduler.schedule`) over a snapshot of
    ``--agents`` agents (default 1,000) and 1k, 10k and 100k pending sessions, once per
    agent selection (dispersed, concentrated) and once with a drf group; the time per
    session shows whether the work grows faster than the queue (a quadratic scheduler's
    time per session grows tenfold with every tenfold queue).
(b) Through the database: the dispatcher's pass (:func:`schedule_once`: snapshot, plan,
    stale-plan check, writes) repeated until nothing is left to place, over ``--db-pending``
    (default 10,000) PENDING sessions and the same agents, on SQLite and on PostgreSQL
    (127.0.0.1:5432, a database created and dropped for the run). Kernels are not sent
    anywhere (no agent process): what is measured is the scheduling, not container starts.

Both are compared with Slurm's published scheduling rate of 500 jobs/s (its high-throughput
guide's order of magnitude). Results go to the terminal and to
``benchmarks/results/scheduler-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from berth.domain import slots as sl  # noqa: E402
from berth.domain.scheduler import (  # noqa: E402
    AgentState,
    GroupState,
    PendingSession,
    Quota,
    Snapshot,
    schedule,
)
from berth.domain.status import SessionStatus  # noqa: E402
from berth.manager.db.engine import (  # noqa: E402
    make_engine,
    make_sessionmaker,
    transaction,
    upgrade_sync,  # noqa: E402
)
from berth.manager.db.tables import (  # noqa: E402
    AgentRow,
    ImageRow,
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    SessionRow,
    UserRow,
    new_id,
)
from berth.manager.services import dispatch  # noqa: E402

SLURM = 500.0  # jobs per second
GiB = 2**30
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
IMAGE, EXTRA = "berth/python:3.11", "berth/extra:1"
OWNERS = [f"user{i}" for i in range(20)]


# ---- the workload -----------------------------------------------------------------------------


def agents_of(n: int) -> list[tuple[str, sl.Slots, frozenset[str]]]:
    """``n`` agents of 128 cores and 512 GiB; every second one also has the extra image."""
    return [(f"agent-{i:04d}", sl.slots(cpu=128, mem=512 * GiB),
             frozenset({IMAGE, EXTRA} if i % 2 else {IMAGE})) for i in range(n)]


def requests_of(n: int, seed: int = 9) -> list[tuple[sl.Slots, str, str, int]]:
    """``n`` requests: (slots, image, owner, priority). About 1.2 cores and 2.3 GiB each, so
    100,000 of them nearly fill 1,000 agents."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        slots = sl.slots(cpu=rnd.choice(["0.5", "1", "2"]), mem=rnd.choice([1, 2, 4]) * GiB,
                         shmem=64 * 2**20)
        image = EXTRA if rnd.random() < 0.1 else IMAGE
        out.append((slots, image, rnd.choice(OWNERS), rnd.choice([10, 10, 10, 20])))
    return out


def pure_inputs(agents: int, pending: int, scheduler: str,
                selection: str) -> tuple[Snapshot, list[PendingSession]]:
    states = tuple(AgentState(i, "default", cap, {}, True, images)
                   for i, cap, images in agents_of(agents))
    group = GroupState("default", scheduler, selection)
    quotas = {("user", o): Quota("user", o, "big", sl.slots(cpu=100_000)) for o in OWNERS}
    start = NOW - timedelta(days=1)
    sessions = [PendingSession(f"s{n:06d}", start + timedelta(milliseconds=n), slots,
                               image=image, owner_id=owner, project_id="p", priority=prio)
                for n, (slots, image, owner, prio) in enumerate(requests_of(pending))]
    return Snapshot(states, {"default": group}, quotas), sessions


def bench_pure(agents: int, sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for scheduler, selection in (("fifo", "dispersed"), ("fifo", "concentrated"),
                                 ("drf", "dispersed")):
        for n in sizes:
            snapshot, sessions = pure_inputs(agents, n, scheduler, selection)
            t0 = time.perf_counter()
            plan = schedule(snapshot, sessions, NOW)
            elapsed = time.perf_counter() - t0
            placed = len(plan.assignments)
            row = {"scheduler": scheduler, "selection": selection, "agents": agents,
                   "pending": n, "placed": placed, "waiting": len(plan.waiting),
                   "seconds": round(elapsed, 3),
                   "placements_per_s": round(placed / elapsed, 1),
                   "us_per_session": round(elapsed / n * 1e6, 1)}
            rows.append(row)
            print(f"  {scheduler:4} {selection:12} {n:>7} pending: {elapsed:7.2f} s, "
                  f"{placed:>6} placed, {row['placements_per_s']:>9,.0f} placements/s "
                  f"({row['placements_per_s'] / SLURM:5.1f}x Slurm), "
                  f"{row['us_per_session']:7.1f} us/session", flush=True)
    return rows


# ---- through the database ---------------------------------------------------------------------


@dataclass
class BenchManager:
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


async def seed(maker: async_sessionmaker[AsyncSession], agents: int, pending: int) -> None:
    async with transaction(maker) as db:
        db.add(ResourceGroupRow(name="default"))
        users = {o: new_id() for o in OWNERS}
        project = new_id()
        await db.execute(insert(UserRow), [
            {"id": uid, "email": f"{o}@bench.local", "password_hash": "x"}
            for o, uid in users.items()])
        await db.execute(insert(ProjectRow), [{"id": project, "name": "bench"}])
        rows = agents_of(agents)
        await db.execute(insert(AgentRow), [
            {"id": i, "address": f"http://{i}", "resource_group": "default",
             "capacity": sl.to_json(cap)} for i, cap, _ in rows])
        for ref in (IMAGE, EXTRA):
            db.add(ImageRow(ref=ref, display_name=ref, version="1",
                            agents=[i for i, _, images in rows if ref in images]))
        start = datetime.now(UTC) - timedelta(hours=1)
        sessions, kernels = [], []
        for n, (slots, image, owner, prio) in enumerate(requests_of(pending)):
            sid = new_id()
            sessions.append({
                "id": sid, "name": f"s{n:06d}", "owner_id": users[owner],
                "creator_id": users[owner], "project_id": project, "type": "interactive",
                "status": SessionStatus.PENDING, "image": image, "priority": prio,
                "requested_slots": sl.to_json(slots),
                "created_at": start + timedelta(milliseconds=n)})
            kernels.append({"id": new_id(), "session_id": sid})
        for i in range(0, pending, 2000):
            await db.execute(insert(SessionRow), sessions[i:i + 2000])
            await db.execute(insert(KernelRow), kernels[i:i + 2000])


async def bench_db_async(url: str, agents: int, pending: int) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        maker = make_sessionmaker(engine)
        await seed(maker, agents, pending)
        m = BenchManager(maker)
        passes = []
        t0 = time.perf_counter()
        while True:
            before = m.placed
            p0 = time.perf_counter()
            await dispatch.schedule_once(m)  # type: ignore[arg-type]
            passes.append(round(time.perf_counter() - p0, 3))
            if m.placed == before:
                break
        elapsed = time.perf_counter() - t0
        async with maker() as db:
            left = await db.scalar(select(func.count()).select_from(SessionRow)
                                   .where(SessionRow.status == SessionStatus.PENDING))
        return {"agents": agents, "pending": pending, "placed": m.placed, "left": left,
                "seconds": round(elapsed, 2), "passes": passes,
                "placements_per_s": round(m.placed / elapsed, 1)}
    finally:
        await engine.dispose()


def bench_db(kind: str, agents: int, pending: int) -> dict[str, Any]:
    if kind == "postgres":
        from cluster import _pg, run_async

        name = f"berth_bench_{secrets.token_hex(4)}"
        run_async(_pg(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        try:
            upgrade_sync(url)
            return asyncio.run(bench_db_async(url, agents, pending))
        finally:
            run_async(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as root:
        url = f"sqlite+aiosqlite:///{Path(root) / 'berth.db'}"
        upgrade_sync(url)
        return asyncio.run(bench_db_async(url, agents, pending))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--pending", default="1000,10000,100000")
    parser.add_argument("--db-pending", type=int, default=10000)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    sizes = [int(x) for x in args.pending.split(",") if x]
    results: dict[str, Any] = {"python": platform.python_version(),
                               "machine": platform.machine(), "slurm_jobs_per_s": SLURM}
    print(f"pure scheduler, {args.agents} agents:")
    results["pure"] = bench_pure(args.agents, sizes)
    results["db"] = {}
    for kind in [k for k in args.db.split(",") if k]:
        print(f"through the database ({kind}), {args.agents} agents, {args.db_pending} pending:",
              flush=True)
        row = bench_db(kind, args.agents, args.db_pending)
        results["db"][kind] = row
        print(f"  {row['placed']} placed in {row['seconds']} s over {len(row['passes'])} "
              f"passes ({row['left']} left pending): {row['placements_per_s']:,.0f} "
              f"placements/s ({row['placements_per_s'] / SLURM:.1f}x Slurm's {SLURM:.0f}/s); "
              f"passes {row['passes']}", flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"scheduler-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path}")


if __name__ == "__main__":
    main()


