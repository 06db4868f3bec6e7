"""The dispatcher's pass (:func:`schedule_once`) on SQLite and PostgreSQL: pending timeouts,
what a waiting session records (checks, position, tries) and when it is rewritten, quotas
from resource policies, images, cluster sizes, and a row that breaks the one-flush write.
Agents are plain rows; nothing is sent to them (see test_scheduling_race.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from test_scheduling_race import FakeManager, database, seed

from berth.domain import slots as sl
from berth.domain.status import SessionStatus
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import (
    ImageRow,
    ResourceGroupRow,
    ResourcePolicyRow,
    SessionHistoryRow,
    SessionRow,
    UserRow,
)
from berth.manager.services import dispatch, snapshot
from cluster import run_async

__all__ = ["database"]  # the fixture, shared with the race tests
GiB = 2**30
S = SessionStatus


async def sessions(db: AsyncSession, ids: list[str]) -> list[SessionRow]:
    found = {r.id: r for r in (await db.scalars(
        select(SessionRow).where(SessionRow.id.in_(ids))
        .execution_options(populate_existing=True))).all()}
    return [found[i] for i in ids]


def scenario(url: str, agents: dict[str, sl.Slots], requests: list[sl.Slots],
             steps: Any) -> None:
    """Seed, then ``await steps(manager, ids)``."""
    async def go() -> None:
        engine = make_engine(url)
        m = FakeManager(make_sessionmaker(engine))
        try:
            async with transaction(m.db) as db:
                ids = await seed(db, agents, requests)
            await steps(m, ids)
        finally:
            await engine.dispose()

    run_async(go())


def test_a_session_waiting_past_the_pending_timeout_is_cancelled(database: str) -> None:
    async def steps(m: FakeManager, ids: list[str]) -> None:
        async with transaction(m.db) as db:  # the sessions were created an hour ago
            await db.execute(update(ResourceGroupRow).values(pending_timeout=600))
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            [row] = await sessions(db, ids)
            history = (await db.scalars(select(SessionHistoryRow).where(
                SessionHistoryRow.session_id == row.id))).all()
        assert (row.status, row.status_info) == (S.CANCELLED, "pending-timeout")
        assert "pending timeout of resource group 'default' (600 s)" in (
            row.status_data["scheduler"]["message"])
        assert row.terminated_at is not None
        assert [(h.status, h.status_info) for h in history] == [("CANCELLED", "pending-timeout")]

    scenario(database, {"x": sl.slots(cpu=4, mem=8 * GiB)}, [sl.slots(cpu=1, mem=GiB)], steps)


def test_waiting_sessions_record_checks_and_positions_and_are_not_rewritten_idly(
    database: str,
) -> None:
    async def steps(m: FakeManager, ids: list[str]) -> None:
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            first, second, third = await sessions(db, ids)
        assert first.status is S.PREPARING and first.agent_id == "x"
        for row, position in ((second, 1), (third, 2)):
            record = row.status_data["scheduler"]
            assert (row.status, row.status_info) == (S.PENDING, "no-available-resources")
            assert record["position"] == position and record["tries"] == 1
            assert datetime.fromisoformat(record["last_try"]).tzinfo is not None
        assert {"name": "queue", "passed": True, "message": "not held back"} in (
            second.status_data["scheduler"]["checks"])
        assert second.status_data["scheduler"]["message"] == (
            "no agent has enough free resources (x: short of cpu 1)")
        assert third.status_data["scheduler"]["message"].startswith(
            "held back behind session 's0001'")

        await dispatch.schedule_once(m)  # type: ignore[arg-type]  # nothing changed
        async with m.db() as db:
            _, second, third = await sessions(db, ids)
        assert second.status_data["scheduler"]["tries"] == 1  # not rewritten

        async with transaction(m.db) as db:  # the first ends: the queue moves
            await db.execute(update(SessionRow).where(SessionRow.id == ids[0])
                             .values(status=S.TERMINATED))
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            _, second, third = await sessions(db, ids)
        assert second.status is S.PREPARING
        assert third.status_data["scheduler"]["position"] == 1
        assert third.status_data["scheduler"]["tries"] == 2

    scenario(database, {"x": sl.slots(cpu=1, mem=8 * GiB)},
             [sl.slots(cpu=1, mem=GiB)] * 3, steps)


def test_a_user_policy_limits_what_the_user_holds(database: str) -> None:
    async def steps(m: FakeManager, ids: list[str]) -> None:
        async with transaction(m.db) as db:
            db.add(ResourcePolicyRow(name="small", total_slots={"cpu": "1.5"},
                                     max_concurrent_sessions=5))
            await db.flush()
            await db.execute(update(UserRow).values(resource_policy="small"))
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            rows = await sessions(db, ids)
        assert [r.status for r in rows] == [S.PREPARING, S.PENDING, S.PENDING]
        assert rows[1].status_data["scheduler"]["message"] == (
            "user policy 'small' allows cpu 1.5 in total; 1 in use, this asks 1")
        checks = {c["name"]: c["passed"] for c in rows[1].status_data["scheduler"]["checks"]}
        assert checks == {"user-quota": False}

    scenario(database, {"x": sl.slots(cpu=16, mem=64 * GiB)},
             [sl.slots(cpu=1, mem=GiB)] * 3, steps)


def test_sessions_go_only_where_their_image_is(database: str) -> None:
    async def steps(m: FakeManager, ids: list[str]) -> None:
        async with transaction(m.db) as db:
            db.add(ImageRow(ref="only/y:1", display_name="Y", version="1", agents=["y"]))
            await db.execute(update(SessionRow).where(SessionRow.id.in_(ids[:2]))
                             .values(image="only/y:1"))
            await db.execute(update(SessionRow).where(SessionRow.id == ids[2])
                             .values(image="nowhere/z:1"))
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            rows = await sessions(db, ids)
        assert [r.agent_id for r in rows] == ["y", "y", None]
        assert rows[2].status_data["scheduler"]["message"] == (
            "no agent in the resource group 'default' has image nowhere/z:1")

    # x has far more room; only y has the image.
    scenario(database, {"x": sl.slots(cpu=64, mem=256 * GiB), "y": sl.slots(cpu=2, mem=GiB * 8)},
             [sl.slots(cpu=1, mem=GiB)] * 3, steps)


def test_a_cluster_session_occupies_its_size_times_its_request(database: str) -> None:
    async def steps(m: FakeManager, ids: list[str]) -> None:
        async with transaction(m.db) as db:
            await db.execute(update(SessionRow).where(SessionRow.id == ids[0])
                             .values(cluster_size=3))
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            rows = await sessions(db, ids)
            usage = (await snapshot.load_usage(db)).agents["x"]
        assert [r.status for r in rows] == [S.PREPARING, S.PENDING]
        assert usage["cpu"] == 3
        assert "short of cpu 1" in rows[1].status_data["scheduler"]["message"]

    scenario(database, {"x": sl.slots(cpu=3, mem=8 * GiB)}, [sl.slots(cpu=1, mem=GiB)] * 2,
             steps)


def test_a_row_that_breaks_the_single_flush_fails_alone(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass writes everything in one flush; a row that makes it fail is found by doing
    the pass again a session at a time, and only that session ends as internal-error."""
    real = dispatch._place

    def place(db: AsyncSession, row: SessionRow, agent_id: str, now: datetime,
              devices: list[Any]) -> list[Any]:
        events = real(db, row, agent_id, now, devices)
        if row.name == "s0001":
            row.status_changed_at = now.replace(tzinfo=None)  # the column refuses it
        return events

    monkeypatch.setattr(dispatch, "_place", place)

    async def steps(m: FakeManager, ids: list[str]) -> None:
        await dispatch.schedule_once(m)  # type: ignore[arg-type]
        async with m.db() as db:
            rows = await sessions(db, ids)
        assert [r.status for r in rows] == [S.PREPARING, S.ERROR, S.PREPARING]
        assert rows[1].status_info == "internal-error"
        assert rows[1].status_data["where"] == "scheduler"
        assert "naive datetime" in rows[1].status_data["error"]

    scenario(database, {"x": sl.slots(cpu=8, mem=8 * GiB)}, [sl.slots(cpu=1, mem=GiB)] * 3,
             steps)
