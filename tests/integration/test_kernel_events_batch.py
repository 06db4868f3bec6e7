"""The manager's handling of a batch of kernel events (``KernelEvents``, one agent post)
against a real database (SQLite and PostgreSQL), without an agent: sessions and kernels are
rows, the events are handed to ``handle_events`` as the ``/api/agent/v1/events`` route does.

Every event of the post is applied, in order, across write chunks: a kernel's ``started``
then ``exited`` in one post ends its session as the exit says; an event whose session row is
broken ends only that session as ``internal-error``; events of unknown kernels change
nothing. The route itself is exercised by the lifecycle tests (a real agent posting)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from berth.domain.status import SessionStatus, SessionType
from berth.manager.agent_client import AgentClient
from berth.manager.context import Manager
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import (
    AgentRow,
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    SessionHistoryRow,
    SessionRow,
    UserRow,
)
from berth.manager.events import MemoryEventBus
from berth.manager.services import kernel_events
from berth.proxy.server import AppProxy
from berth.rpc import EventKind, KernelEvent, KernelEvents, KernelReport, KernelState
from berth.settings import ManagerSettings
from cluster import fresh_database, run_async

AGENT = "agent-batch"
S = SessionStatus


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(request.param, "berth_events") as url:
        yield url


async def _seed(m: Manager, sessions: dict[str, SessionType]) -> dict[str, str]:
    """One CREATING session per name, each with one kernel (id ``k-<name>``) on AGENT."""
    async with transaction(m.db) as db:
        db.add(ResourceGroupRow(name="default"))
        user = UserRow(email="events@example.com", password_hash="x")
        project = ProjectRow(name="events")
        db.add_all([user, project])
        await db.flush()
        db.add(AgentRow(id=AGENT, address="http://127.0.0.1:1", resource_group="default"))
        ids = {}
        for name, type_ in sessions.items():
            row = SessionRow(name=name, owner_id=user.id, creator_id=user.id,
                             project_id=project.id, type=type_, status=S.CREATING,
                             status_info="creating", image="img", requested_slots={"cpu": "1"})
            db.add(row)
            await db.flush()
            db.add(KernelRow(id=f"k-{name}", session_id=row.id, agent_id=AGENT,
                             status=S.CREATING))
            ids[name] = row.id
    return ids


def event(name: str, kind: EventKind, exit_code: int | None = None) -> KernelEvent:
    state = KernelState.EXITED if kind is EventKind.EXITED else KernelState.RUNNING
    report = KernelReport(kernel_id=f"k-{name}", session_id=name, state=state,
                          container_id=f"c-{name}", exit_code=exit_code)
    return KernelEvent(agent_id=AGENT, kind=kind, kernel=report)


async def _scenario(url: str) -> None:
    engine = make_engine(url)
    m = Manager(settings=ManagerSettings(), db=make_sessionmaker(engine), bus=MemoryEventBus(),
                agents=AgentClient("token"), proxy=AppProxy(b"secret"))
    spawned: list[Coroutine[Any, Any, Any]] = []
    m.spawn = spawned.append  # type: ignore[method-assign]  # the destroys: recorded only
    try:
        ids = await _seed(m, {"task": SessionType.BATCH, "shell": SessionType.INTERACTIVE,
                              "broken": SessionType.INTERACTIVE, "late": SessionType.BATCH,
                              "fails": SessionType.INTERACTIVE})
        async with transaction(m.db) as db:  # a type the ORM cannot load
            await db.execute(text("UPDATE sessions SET type = 'weird' WHERE id = :id"),
                             {"id": ids["broken"]})
        bus = await m.bus.subscribe()
        post = KernelEvents(agent_id=AGENT, events=[
            event("task", EventKind.STARTED),
            event("broken", EventKind.STARTED),
            event("nobody", EventKind.STARTED),  # a kernel the manager does not know
            event("shell", EventKind.STARTED),
            event("task", EventKind.EXITED, exit_code=0),
            event("fails", EventKind.CREATE_FAILED),
            event("late", EventKind.STARTED),
            event("shell", EventKind.STARTED),  # a repeat: changes nothing
        ])
        await kernel_events.handle_events(m, post.agent_id, post.events)

        async with m.db() as db:
            rows = {r.id: (r.status, r.status_info) for r in (await db.execute(
                select(SessionRow.id, SessionRow.status, SessionRow.status_info)
                .where(SessionRow.id != ids["broken"]))).all()}
            history = {sid: [(st, info) for st, info in (await db.execute(
                select(SessionHistoryRow.status, SessionHistoryRow.status_info)
                .where(SessionHistoryRow.session_id == sid)
                .order_by(SessionHistoryRow.id))).all()] for sid in ids.values()}
            broken = (await db.execute(text(
                "SELECT status, status_info FROM sessions WHERE id = :id"),
                {"id": ids["broken"]})).one()
            kernel = await db.get(KernelRow, "k-task")
            assert kernel is not None
            task_kernel = (kernel.container_id, kernel.exit_code)
        # started, then exited, of one kernel in one post: the exit has the last word.
        assert rows[ids["task"]] == (S.TERMINATING, "task-finished")
        assert [s for s, _ in history[ids["task"]]][-2:] == ["RUNNING", "TERMINATING"]
        assert task_kernel == ("c-task", 0)
        assert rows[ids["shell"]] == (S.RUNNING, "started")
        assert [s for s, _ in history[ids["shell"]]].count("RUNNING") == 1
        assert rows[ids["fails"]] == (S.ERROR, "failed-to-start")
        assert rows[ids["late"]] == (S.RUNNING, "started")  # after the broken one, applied
        assert tuple(broken) == ("ERROR", "internal-error")
        # The ended task's kernel is destroyed after the commit.
        assert len(spawned) == 1

        # Published once their chunk committed, in order.
        seen: list[tuple[str, str]] = []
        names = {v: k for k, v in ids.items()}
        while len(seen) < 6:
            e = await asyncio.wait_for(anext(bus), 5)
            seen.append((names[e.session_id], e.status))  # type: ignore[attr-defined]
        assert seen == [("task", "RUNNING"), ("broken", "ERROR"), ("shell", "RUNNING"),
                        ("task", "TERMINATING"), ("fails", "ERROR"), ("late", "RUNNING")]
    finally:
        for coro in spawned:
            coro.close()
        await engine.dispose()


@pytest.mark.parametrize("chunk", [3, 50], ids=["chunks-of-3", "one-chunk"])
def test_a_post_of_many_events_applies_each_in_order(
        database: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``chunk``: events per write transaction (3: the task's started and exited are in
    different transactions; 50: in the same one, as a real post of a short task)."""
    monkeypatch.setattr(kernel_events, "WRITE_CHUNK", chunk)
    run_async(_scenario(database))
