"""Session lifecycle through a real manager and a real agent whose container engine is the
FakeBackend (berth.agent.backends.fake): stuck transitions, failed starts, batch results,
force-terminate in early statuses, and the status history.

The fake only stands in for the engine where a test needs behaviour Docker will not produce
on demand (never starting, refusing, starting slowly); everything else is the real code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from berth.agent.backends.base import BackendError, LogSource
from berth.agent.backends.fake import FAKE_IMAGE, SLOW_SECONDS, FakeBackend, batch_exit_code
from berth.agent.node import Node
from berth.client import ENDED, Client
from berth.domain.status import TRANSITIONS, SessionStatus
from berth.rpc import CreateKernel, KernelEvent
from cluster import Cluster, wait_for, wait_status

TRANSITION_TIMEOUT = 3.0


def fake_cluster(
    mode: str, transition_timeout: float = TRANSITION_TIMEOUT, heartbeat: float = 1
) -> Iterator[Cluster]:
    """A manager + agent on the FakeBackend in ``mode``, with frequent heartbeats so that
    reconciliation races are exercised too."""
    c = Cluster(
        db="sqlite",
        agent_env={
            "BERTH_AGENT_BACKEND": "fake",
            "BERTH_AGENT_FAKE_MODE": mode,
            "BERTH_AGENT_HEARTBEAT_INTERVAL": str(heartbeat),
        },
        manager_env={
            "BERTH_TRANSITION_TIMEOUT": str(transition_timeout),
            "BERTH_HEARTBEAT_TIMEOUT": str(max(10, heartbeat * 4)),
        },
    )
    try:
        c.start()
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def never_start() -> Iterator[Cluster]:
    yield from fake_cluster("never-start")


@pytest.fixture(scope="module")
def failing() -> Iterator[Cluster]:
    yield from fake_cluster("fail")


@pytest.fixture(scope="module")
def normal() -> Iterator[Cluster]:
    yield from fake_cluster("normal")


@pytest.fixture(scope="module")
def slow() -> Iterator[Cluster]:
    # Creating takes SLOW_SECONDS here; a longer transition timeout keeps the watchdog out.
    yield from fake_cluster("slow", transition_timeout=60)


# --- helpers -------------------------------------------------------------------------------


def create(c: Client, **fields: Any) -> dict[str, Any]:
    [session] = c.create_session(image=FAKE_IMAGE, **fields)
    return session


def wait_ended(c: Client, session_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_status(c, session_id, ENDED, timeout)


def wait_ended_as(c: Client, session_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    """Wait until the session ended; fail with its whole record if it ended otherwise."""
    session = wait_for(
        lambda: (s := c.get_session(session_id))["status"] in ENDED and s,
        timeout,
        what=f"session {session_id} to end",
    )
    assert session["status"] == status, {
        k: session[k] for k in ("status", "status_info", "status_data", "history")
    }
    return session


def statuses(session: dict[str, Any]) -> list[str]:
    """The history's statuses with repeats (a PENDING session's new reasons) folded."""
    result: list[str] = []
    for entry in session["history"]:
        if not result or result[-1] != entry["status"]:
            result.append(entry["status"])
    return result


def at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def first_at(session: dict[str, Any], status: str) -> datetime:
    return next(at(e) for e in session["history"] if e["status"] == status)


def assert_history_consistent(session: dict[str, Any]) -> None:
    """Starts PENDING/created, follows the transition table, timestamps never go back, and
    the last entry is the session's current status and reason."""
    history = session["history"]
    assert history, session
    assert (history[0]["status"], history[0]["status_info"]) == ("PENDING", "created")
    walk = statuses(session)
    for a, b in zip(walk, walk[1:], strict=False):
        assert SessionStatus(b) in TRANSITIONS[SessionStatus(a)], f"{a} -> {b} in {walk}"
    # From the scheduler's first record on; "created" -> first record is checked (and fails,
    # a known bug) in test_history_never_goes_back_in_time_under_concurrent_creates.
    times = [at(e) for e in history[1:]]
    assert times == sorted(times), [(e["status"], e["status_info"], e["at"]) for e in history]
    assert all(t.tzinfo is not None for t in times)
    assert (history[-1]["status"], history[-1]["status_info"]) == (
        session["status"],
        session["status_info"],
    )
    assert [s for s in walk if s in ENDED] in ([], [walk[-1]])


# --- (a) stuck in a transition -------------------------------------------------------------


def test_a_kernel_that_never_starts_ends_as_stuck_in_transition(never_start: Cluster) -> None:
    c = never_start.admin
    session = create(c)
    early = wait_status(c, session["id"], {"PREPARING", "CREATING"}, timeout=30)
    began = time.monotonic()
    assert early["status_info"] == early["status"].lower()  # its own reason, not a stale one

    ended = wait_ended_as(c, session["id"], "ERROR", timeout=TRANSITION_TIMEOUT + 30)
    assert time.monotonic() - began >= TRANSITION_TIMEOUT - 1
    assert ended["status_info"] == "stuck-in-transition"
    assert ended["result"] == "FAILURE"
    data = ended["status_data"]
    assert data["where"] == "CREATING"  # the agent took the kernel (202) and never started it
    assert data["where"] in data["error"]
    assert f"{TRANSITION_TIMEOUT:.0f} s" in data["error"]
    assert "final" not in data  # the plan for the end is not left in the public data

    walk = statuses(ended)
    assert walk[:3] == ["PENDING", "SCHEDULED", "PREPARING"]
    assert walk[-2:] == ["TERMINATING", "ERROR"]
    assert "RUNNING" not in walk
    stuck_in = data["where"]
    stuck_for = first_at(ended, "TERMINATING") - first_at(ended, stuck_in)
    assert stuck_for >= timedelta(seconds=TRANSITION_TIMEOUT)
    assert_history_consistent(ended)


# --- (b) the engine refuses ----------------------------------------------------------------


def test_a_refused_kernel_ends_as_failed_to_start(failing: Cluster) -> None:
    c = failing.admin
    session = create(c, type="batch", startup_command="exit 0")
    ended = wait_ended_as(c, session["id"], "ERROR")
    assert ended["status_info"] == "failed-to-start"
    assert ended["result"] == "FAILURE"
    assert "fake: refused by mode=fail" in ended["status_data"]["error"]
    assert failing.agent_id in ended["status_data"]["where"]
    assert ended["exit_code"] is None
    walk = statuses(ended)
    assert walk[:3] == ["PENDING", "SCHEDULED", "PREPARING"] and walk[-1] == "ERROR"
    assert "RUNNING" not in walk
    assert_history_consistent(ended)


def test_after_a_refused_start_the_agent_takes_new_sessions(failing: Cluster) -> None:
    """A failed create leaves nothing occupied: many more sessions than fit all get tried."""
    c = failing.admin
    ids = [s["id"] for s in c.create_session(image=FAKE_IMAGE, count=6)]  # 2 CPUs, 1 each
    for session_id in ids:
        ended = wait_ended_as(c, session_id, "ERROR")
        assert ended["status_info"] == "failed-to-start"


# --- (c) batch results ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "exit_code", "info", "result"),
    [
        ("exit 0", 0, "task-finished", "SUCCESS"),
        ("python -c 'print(42)'", 0, "task-finished", "SUCCESS"),
        ("exit 3", 3, "task-failed", "FAILURE"),
        ("echo bye; exit 42", 42, "task-failed", "FAILURE"),
    ],
)
def test_batch_result_follows_the_exit_code(
    normal: Cluster, command: str, exit_code: int, info: str, result: str
) -> None:
    c = normal.admin
    session = create(c, type="batch", startup_command=command)
    ended = wait_ended_as(c, session["id"], "TERMINATED")
    assert ended["status_info"] == info
    assert ended["result"] == result
    assert ended["exit_code"] == exit_code
    assert ended["status_data"]["exit_code"] == exit_code
    assert ended["kernels"][0]["exit_code"] == exit_code
    assert ended["started_at"] is not None and ended["terminated_at"] is not None
    assert_history_consistent(ended)


def test_logs_of_an_ended_fake_batch_session_are_kept(normal: Cluster) -> None:
    c = normal.admin
    session = create(c, type="batch", startup_command="exit 0")
    ended = wait_ended_as(c, session["id"], "TERMINATED")
    kernel_id = ended["kernels"][0]["id"]
    text = b"".join(c.logs(session["id"])).decode()
    assert f"fake kernel {kernel_id} ran /bin/sh -c 'exit 0'" in text


def test_an_interactive_fake_session_runs_until_terminated(normal: Cluster) -> None:
    c = normal.admin
    session = create(c)
    running = wait_status(c, session["id"], "RUNNING", timeout=30)
    assert running["status_info"] == "started"
    assert running["kernels"][0]["container_id"].startswith("fake-")
    c.terminate_session(session["id"])
    ended = wait_ended_as(c, session["id"], "TERMINATED")
    assert ended["status_info"] == "user-requested"
    assert ended["result"] == "UNDEFINED"
    assert_history_consistent(ended)


# --- (d) force-terminate in early statuses -------------------------------------------------


def test_force_terminate_while_the_kernel_is_being_created(slow: Cluster) -> None:
    c = slow.admin
    session = create(c)
    early = wait_status(c, session["id"], {"PREPARING", "CREATING"}, timeout=30)
    c.terminate_session(session["id"], force=True)
    ended = wait_ended(c, session["id"])
    # Past PENDING a session is never CANCELLED: it goes through TERMINATING to TERMINATED.
    assert (ended["status"], ended["status_info"]) == ("TERMINATED", "force-terminated"), ended
    walk = statuses(ended)
    assert early["status"] in walk and "RUNNING" not in walk
    assert_history_consistent(ended)
    # The cancelled creation must not hold resources: a new session on the same agent runs.
    again = create(c, resources={"cpu": 2})
    assert wait_status(c, again["id"], "RUNNING", timeout=SLOW_SECONDS + 30)["status"]
    c.terminate_session(again["id"], force=True)
    wait_ended(c, again["id"])


@pytest.fixture(scope="module")
def never_start_patient() -> Iterator[Cluster]:
    # Kernels never start, and the watchdog waits a minute before calling that stuck: a force
    # terminate within that minute has exactly one outcome.
    yield from fake_cluster("never-start", transition_timeout=60)


def test_force_terminate_a_session_stuck_in_creating(never_start_patient: Cluster) -> None:
    c = never_start_patient.admin
    session = create(c)
    wait_status(c, session["id"], "CREATING", timeout=30)
    c.terminate_session(session["id"], force=True)
    ended = wait_ended(c, session["id"], timeout=20)
    assert (ended["status"], ended["status_info"]) == ("TERMINATED", "force-terminated"), ended
    assert_history_consistent(ended)


def test_force_terminate_a_pending_session_cancels_it(slow: Cluster) -> None:
    c = slow.admin
    later = datetime.now(UTC) + timedelta(hours=1)
    session = create(c, type="batch", startup_command="exit 0", starts_at=later.isoformat())
    waiting = wait_for(
        lambda: (
            (s := c.get_session(session["id"]))["status_info"] == "waiting-for-start-time" and s
        ),
        30,
        what="the scheduler to record why the session waits",
    )
    assert waiting["status"] == "PENDING"
    checks = waiting["status_data"]["scheduler"]["checks"]
    assert checks[0]["name"] == "start-time" and not checks[0]["passed"]

    out = c.terminate_session(session["id"], force=True)
    assert out["status"] == "CANCELLED"
    ended = c.get_session(session["id"])
    assert ended["status"] == "CANCELLED"
    assert ended["status_info"] == "force-terminated"
    assert statuses(ended) == ["PENDING", "CANCELLED"]
    assert ended["started_at"] is None and ended["terminated_at"] is not None
    assert_history_consistent(ended)


def test_terminating_an_ended_session_is_refused(slow: Cluster) -> None:
    from berth.client import ApiError

    c = slow.admin
    later = datetime.now(UTC) + timedelta(hours=1)
    session = create(c, type="batch", startup_command="exit 0", starts_at=later.isoformat())
    c.terminate_session(session["id"])
    with pytest.raises(ApiError) as info:
        c.terminate_session(session["id"], force=True)
    assert info.value.status == 409


# --- (e) history ---------------------------------------------------------------------------


def test_history_has_every_status_in_order(normal: Cluster) -> None:
    c = normal.admin
    session = create(c, type="batch", startup_command="exit 0")
    ended = wait_ended_as(c, session["id"], "TERMINATED")
    assert statuses(ended) == [
        "PENDING",
        "SCHEDULED",
        "PREPARING",
        "CREATING",
        "RUNNING",
        "TERMINATING",
        "TERMINATED",
    ]
    reasons = {e["status"]: e["status_info"] for e in ended["history"]}
    assert reasons["SCHEDULED"] == "scheduled"
    assert reasons["RUNNING"] == "started"
    assert reasons["TERMINATING"] == reasons["TERMINATED"] == "task-finished"
    scheduled = next(e for e in ended["history"] if e["status"] == "SCHEDULED")
    assert scheduled["status_data"]["agent"] == normal.agent_id
    assert_history_consistent(ended)
    assert first_at(ended, "RUNNING") == datetime.fromisoformat(ended["started_at"])
    assert at(ended["history"][-1]) == datetime.fromisoformat(ended["terminated_at"])


def test_history_never_goes_back_in_time_under_concurrent_creates(normal: Cluster) -> None:
    token = normal.admin.http.headers["Authorization"].removeprefix("Bearer ")
    small = {"cpu": 0.1, "mem": "64m", "shmem": "1m"}

    def create_some(_: int) -> list[str]:
        client = normal.client(api_key=token)
        return [
            create(client, type="batch", startup_command="exit 0", resources=small)["id"]
            for _ in range(4)
        ]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(create_some, range(8)) for i in batch]
    backwards = []
    for session_id in ids:
        ended = wait_ended_as(normal.admin, session_id, "TERMINATED", timeout=60)
        times = [at(e) for e in ended["history"]]
        if times != sorted(times):
            backwards.append([(e["status"], e["at"]) for e in ended["history"][:2]])
    assert not backwards, f"{len(backwards)} of {len(ids)} histories go back: {backwards[:3]}"


@pytest.fixture
def fast_heartbeats() -> Iterator[Cluster]:
    yield from fake_cluster("normal", heartbeat=0.05)


def test_a_stale_heartbeat_does_not_lose_a_new_kernel(fast_heartbeats: Cluster) -> None:
    c = fast_heartbeats.admin
    token = c.http.headers["Authorization"].removeprefix("Bearer ")
    small = {"cpu": 0.1, "mem": "64m", "shmem": "1m"}

    def create_some(_: int) -> list[str]:
        client = fast_heartbeats.client(api_key=token)
        return [
            create(client, type="batch", startup_command="exit 0", resources=small)["id"]
            for _ in range(5)
        ]

    with ThreadPoolExecutor(6) as pool:
        ids = [i for batch in pool.map(create_some, range(6)) for i in batch]
    outcomes = [wait_ended(c, session_id, timeout=60) for session_id in ids]
    lost = [s["status_data"] for s in outcomes if s["status_info"] == "kernel-lost"]
    assert not lost, f"{len(lost)} of {len(ids)} fresh sessions lost: {lost[:1]}"
    assert all(s["status_info"] == "task-finished" for s in outcomes)


def test_slow_creation_shows_in_the_history(slow: Cluster) -> None:
    c = slow.admin
    session = create(c, type="batch", startup_command="exit 0")
    ended = wait_ended_as(c, session["id"], "TERMINATED", timeout=SLOW_SECONDS + 30)
    assert ended["status_info"] == "task-finished"
    created = first_at(ended, "PREPARING")
    assert first_at(ended, "RUNNING") - created >= timedelta(seconds=SLOW_SECONDS - 0.5)
    assert_history_consistent(ended)


# --- the agent's node over the fake, without a manager -------------------------------------


class Events:
    """A Reporter that keeps what the node reports."""

    def __init__(self) -> None:
        self.events: list[KernelEvent] = []

    async def event(self, event: KernelEvent) -> None:
        self.events.append(event)


def spec(kernel_id: str, command: list[str] | None = None) -> CreateKernel:
    return CreateKernel(
        kernel_id=kernel_id,
        session_id=f"s-{kernel_id}",
        session_name="fake-test",
        owner_id="o",
        session_type="batch" if command else "interactive",
        image=FAKE_IMAGE,
        cpu=1,
        mem=2**30,
        shmem=2**26,
        command=command,
    )


async def until(predicate: Any, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_destroying_a_kernel_that_never_starts_forgets_it(tmp_path: Path) -> None:
    events = Events()
    node = Node("agent-x", FakeBackend("agent-x", mode="never-start"), events, tmp_path)
    await node.start()
    node.accept(spec("k1"))
    await until(lambda: (tmp_path / "scratch" / "k1").exists())
    result = await node.destroy("k1", grace=0)
    assert not result.existed
    await until(lambda: "k1" not in node.tasks)
    assert await node.kernel_reports() == []
    await node.close()


async def test_node_reports_a_fake_batch_kernel_start_and_exit(tmp_path: Path) -> None:
    events = Events()
    node = Node("agent-x", FakeBackend("agent-x"), events, tmp_path)
    await node.start()
    node.accept(spec("k2", ["/bin/sh", "-c", "exit 7"]))
    await until(lambda: len(events.events) == 2)
    started, exited = events.events
    assert (started.kind, started.kernel.state) == ("started", "running")
    assert (exited.kind, exited.kernel.state, exited.kernel.exit_code) == ("exited", "exited", 7)
    result = await node.destroy("k2")
    assert result.existed and result.exit_code == 7
    text = b"".join([chunk async for chunk in node.logs("k2", False, None)]).decode()
    assert text == "fake kernel k2 ran /bin/sh -c 'exit 7'\n"  # saved before removal
    assert await node.kernel_reports() == []
    await node.close()


async def test_node_reports_a_refused_create(tmp_path: Path) -> None:
    events = Events()
    node = Node("agent-x", FakeBackend("agent-x", mode="fail"), events, tmp_path)
    await node.start()
    node.accept(spec("k3"))
    await until(lambda: len(events.events) == 1)
    [failed] = events.events
    assert failed.kind == "create-failed" and failed.error == "fake: refused by mode=fail"
    assert not (tmp_path / "scratch" / "k3").exists()
    assert await node.kernel_reports() == []
    await node.close()


# --- the fake's own contract ---------------------------------------------------------------


async def test_fake_backend_contract() -> None:
    fake = FakeBackend("agent-y")
    assert isinstance(fake, LogSource)
    [image] = await fake.list_images()
    assert (image.ref, image.display_name, image.min_cpu, image.min_mem) == (
        FAKE_IMAGE,
        "Fake Python",
        0,
        0,
    )
    status = await fake.create_and_start(spec("i1"), "/nonexistent")
    assert status.running and status.exit_code is None
    waiter = asyncio.ensure_future(fake.wait("i1"))
    await asyncio.sleep(0.3)
    assert not waiter.done()  # an interactive kernel runs until stopped
    stopped = await fake.stop("i1", grace=10)
    assert stopped is not None and not stopped.running and stopped.exit_code == 143
    assert (await waiter) == stopped
    assert (await fake.stop("i1", grace=0)) == stopped  # idempotent, exit code kept
    await fake.remove("i1")
    await fake.remove("i1")
    assert await fake.stop("i1", 1) is None and await fake.wait("i1") is None
    assert await fake.list_kernels() == []
    with pytest.raises(KeyError):
        _ = [chunk async for chunk in fake.logs("i1", False, None)]
    with pytest.raises(BackendError, match="not on this agent"):
        await fake.create_and_start(spec("i2").model_copy(update={"image": "x:1"}), "/x")
    await fake.close()


async def test_fake_batch_exit_codes_and_modes() -> None:
    assert batch_exit_code(["/bin/sh", "-c", "exit 3"]) == 3
    assert batch_exit_code(["/bin/sh", "-c", "python x.py"]) == 0
    assert batch_exit_code(["/bin/sh", "-c", "exit 256"]) == 0
    fake = FakeBackend("agent-z")
    await fake.create_and_start(spec("b1", ["/bin/sh", "-c", "exit 5"]), "/x")
    done = await asyncio.wait_for(fake.wait("b1"), timeout=5)
    assert done is not None and done.exit_code == 5 and not done.running
    with pytest.raises(ValueError, match="mode"):
        FakeBackend("a", mode="sometimes")
    with pytest.raises(BackendError, match="mode=fail"):
        await FakeBackend("a", mode="fail").create_and_start(spec("f1"), "/x")
    never = asyncio.ensure_future(
        FakeBackend("a", mode="never-start").create_and_start(spec("n1"), "/x")
    )
    await asyncio.sleep(0.2)
    assert not never.done()
    never.cancel()
    with pytest.raises(asyncio.CancelledError):
        await never
