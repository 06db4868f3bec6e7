"""The idle loop's load/decide/apply against a real database (SQLite and PostgreSQL), without
an engine: sessions are rows (no kernels to stop), the clock is the database's timestamps.
Covers what the engine tests cannot time exactly: a session used between the decision and
the write is spared, a warning is sent once and remembered, and the traffic flush writes one
batched statement that never moves a stored time back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from berth.domain import idle
from berth.domain.status import SessionStatus, SessionType
from berth.manager.agent_client import AgentClient
from berth.manager.context import Manager
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import (
    ProjectRow,
    ResourceGroupRow,
    ResourcePolicyRow,
    SessionRow,
    UserRow,
    utcnow,
)
from berth.manager.events import MemoryEventBus
from berth.manager.services import activity
from berth.manager.services import idle as loop
from berth.proxy.server import AppProxy
from berth.settings import ManagerSettings
from cluster import fresh_database, run_async


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty, migrated database of its own."""
    with fresh_database(request.param, "berth_idle") as url:
        yield url


async def _seed(m: Manager, ages: dict[str, float]) -> dict[str, str]:
    """A user whose policy sets a 10 s idle timeout (warning 5 s ahead), and one RUNNING
    session per name, started ``age`` seconds ago, without traffic."""
    async with transaction(m.db) as db:
        db.add(ResourcePolicyRow(name="p", idle_timeout=10, warn_before=5))
        db.add(ResourceGroupRow(name="default"))
        user = UserRow(email="idle@example.com", password_hash="x", resource_policy="p")
        project = ProjectRow(name="idle")
        db.add_all([user, project])
        await db.flush()
        ids = {}
        for name, age in ages.items():
            started = utcnow() - timedelta(seconds=age)
            row = SessionRow(name=name, owner_id=user.id, creator_id=user.id,
                             project_id=project.id, type=SessionType.INTERACTIVE,
                             status=SessionStatus.RUNNING, image="img", started_at=started,
                             status_changed_at=started, requested_slots={"cpu": "1"})
            db.add(row)
            await db.flush()
            ids[name] = row.id
    return ids


async def _rows(m: Manager) -> dict[str, SessionRow]:
    async with m.db() as db:
        return {r.name: r for r in (await db.scalars(select(SessionRow))).all()}


async def _scenario(url: str) -> None:
    engine = make_engine(url)
    m = Manager(settings=ManagerSettings(), db=make_sessionmaker(engine), bus=MemoryEventBus(),
                agents=AgentClient("token"), proxy=AppProxy(b"secret"))
    try:
        ids = await _seed(m, {"idle": 20, "used": 20, "late": 20, "warned": 7})
        events = await m.bus.subscribe()
        m.activity.touch(ids["used"])  # in memory only: not yet flushed
        # Decide, then traffic arrives before the write: the re-read spares the session.
        async with m.db() as db:
            config = await loop.load_config(db)
            loaded = await loop.load_sessions(db, config)
        now = utcnow()
        evaluated = [(s, f, idle.evaluate(s.policy, f, now))
                     for s in loaded for f in [loop.facts_of(m, s, now)]]
        decision = loop.decide(evaluated, now)
        assert sorted(s.name for s, _, _ in decision.reclaim) == ["idle", "late"]
        assert [s.name for s, _ in decision.warn] == ["warned"]
        m.activity.touch(ids["late"])
        await loop.apply_reclaims(m, decision.reclaim)
        await loop.apply_warnings(m, decision.warn, now)
        await asyncio.gather(*m.tasks)  # the destroys (no kernels: straight to TERMINATED)
        rows = await _rows(m)
        assert rows["idle"].status is SessionStatus.TERMINATED
        assert rows["idle"].status_info == "idle-timeout"
        data: dict[str, Any] = rows["idle"].status_data
        assert data["check"] == "network-timeout" and data["idle_timeout"] == 10
        assert data["idle_for"] >= 20
        for name in ("used", "late", "warned"):
            assert rows[name].status is SessionStatus.RUNNING, name
        warned_at = rows["warned"].idle_warned
        assert warned_at is not None and set(warned_at) == {"network-timeout"}
        kinds = []
        while len(kinds) < 3:  # TERMINATING, TERMINATED, the warning
            kinds.append((await asyncio.wait_for(anext(events), 5)).type)
        assert kinds.count("session.idle-warning") == 1
        # A second pass (a restarted manager reads the same rows) does not warn again.
        again = await loop.idle_once(m)
        assert not again.warn and ids["warned"] in again.due
        # The flush stores the in-memory traffic, never moving a time back.
        assert await activity.flush(m) == 2
        rows = await _rows(m)
        stored = rows["late"].last_activity_at
        assert stored is not None and utcnow() - stored < timedelta(seconds=5)
        m.activity.touch(ids["late"], stored - timedelta(seconds=60))  # older: ignored
        m.activity.touch(ids["used"], stored - timedelta(days=1))
        await activity.flush(m)
        assert (await _rows(m))["late"].last_activity_at == stored
        assert await activity.flush(m) == 0  # nothing changed since
    finally:
        await m.agents.close()
        await engine.dispose()


def test_decide_then_apply_with_a_real_database(database: str) -> None:
    run_async(_scenario(database))
