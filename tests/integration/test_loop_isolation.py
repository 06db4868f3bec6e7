"""One bad row never stalls a background loop: a session whose row makes the scheduler, the
heartbeat reconciliation or the watchdog raise is ended as ERROR ``internal-error`` (with
``status_data = {error, where}``), and the same pass goes on with every other session.

Each test plants such a row with raw SQL in the cluster's database (SQLite and PostgreSQL),
through a real manager and a real agent whose engine is the FakeBackend. The "good" outcome
each test waits for is one only the loop under test produces, so the test fails when that
loop stalls on the bad row (as it did before the loops isolated sessions).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from berth.agent.backends.fake import FAKE_IMAGE
from berth.client import Client
from berth.rpc import Heartbeat
from cluster import Cluster, wait_for, wait_status

HEARTBEAT_TIMEOUT = 5


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fake(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(
        db=request.param,
        agent_env={"BERTH_AGENT_BACKEND": "fake", "BERTH_AGENT_HEARTBEAT_INTERVAL": "0.5"},
        manager_env={
            "BERTH_CREATE_GRACE": "1",
            "BERTH_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "BERTH_TRANSITION_TIMEOUT": "60",
            # A row broken by hand changes no report or status: a full pass finds it.
            "BERTH_HEARTBEAT_FULL_EVERY": "2",
        },
    )
    try:
        c.start()
        yield c
    finally:
        c.close()


# --- helpers -------------------------------------------------------------------------------


def sql(c: Cluster, statement: str, **params: Any) -> list[Any]:
    return c.sql(statement, **params)


def as_json(c: Cluster) -> str:
    """A JSON literal for an UPDATE (PostgreSQL needs the cast, SQLite stores the text)."""
    return "CAST(:v AS JSON)" if c.db == "postgres" else ":v"


def plant_slots(c: Cluster, session_id: str, slots: dict[str, str]) -> None:
    sql(
        c,
        f"UPDATE sessions SET requested_slots = {as_json(c)}, starts_at = NULL "
        "WHERE id = :id",
        v=json.dumps(slots),
        id=session_id,
    )


def raw_session(c: Cluster, session_id: str) -> dict[str, Any]:
    """The session as stored, for rows the API cannot show (a type it does not know)."""
    [(status, info, data, result)] = sql(
        c,
        "SELECT status, status_info, status_data, result FROM sessions WHERE id = :id",
        id=session_id,
    )
    data = json.loads(data) if isinstance(data, str) else data
    return {"status": status, "status_info": info, "status_data": data, "result": result}


def wait_raw(c: Cluster, session_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(
        lambda: (s := raw_session(c, session_id))["status"] == status and s,
        timeout,
        what=f"session {session_id} to be {status} in the database",
    )


def later_batch(client: Client) -> str:
    """A batch session that waits in PENDING for its start time (an hour away)."""
    starts = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    [s] = client.create_session(
        image=FAKE_IMAGE, type="batch", startup_command="exit 0", starts_at=starts
    )
    wait_for(
        lambda: client.get_session(s["id"])["status_info"] == "waiting-for-start-time",
        30,
        what="the scheduler to see the session",
    )
    return str(s["id"])


def running(client: Client) -> dict[str, Any]:
    [s] = client.create_session(image=FAKE_IMAGE, resources={"cpu": 0.1, "mem": "64m"})
    return wait_status(client, s["id"], "RUNNING", timeout=30)


def assert_internal_error(session: dict[str, Any], where: str, mentions: str) -> None:
    assert (session["status"], session["status_info"]) == ("ERROR", "internal-error"), session
    assert session["result"] == "FAILURE"
    data = session["status_data"]
    assert data["where"].startswith(where), data
    assert mentions in data["error"], data


# --- the scheduler -------------------------------------------------------------------------


def test_the_scheduler_places_the_others_when_pending_rows_break_it(fake: Cluster) -> None:
    c = fake.admin
    unparsable, nan, unloadable = later_batch(c), later_batch(c), later_batch(c)
    plant_slots(fake, unparsable, {"cpu": "lots", "mem": "1073741824", "shmem": "67108864"})
    plant_slots(fake, nan, {"cpu": "NaN", "mem": "1073741824", "shmem": "67108864"})
    sql(fake, "UPDATE sessions SET type = 'weird', starts_at = NULL WHERE id = :id", id=unloadable)
    try:
        good = [
            s["id"]
            for s in c.create_session(
                image=FAKE_IMAGE, type="batch", startup_command="exit 0", count=3
            )
        ]
        for session_id in good:
            ended = wait_status(c, session_id, "TERMINATED", timeout=30)
            assert ended["status_info"] == "task-finished"

        # Read from the database: the API cannot show rows this broken either.
        assert_internal_error(raw_session(fake, unparsable), "scheduler", "'lots'")
        # The user sees why through the API too: the unreadable slots are shown as stored.
        shown = c.get_session(unparsable)
        assert_internal_error(shown, "scheduler", "'lots'")
        assert shown["requested"]["cpu"] == "lots"
        assert_internal_error(raw_session(fake, nan), "scheduler", "cpu")
        assert_internal_error(raw_session(fake, unloadable), "scheduler", "weird")
        history = sql(
            fake,
            "SELECT status, status_info FROM session_history WHERE session_id = :id ORDER BY id",
            id=unparsable,
        )
        assert [tuple(h) for h in history][-1] == ("ERROR", "internal-error")
    finally:
        sql(fake, "UPDATE sessions SET type = 'batch' WHERE id = :id", id=unloadable)


# --- the heartbeat reconciliation ----------------------------------------------------------


def destroy_on_agent(fake: Cluster, kernel_id: str) -> None:
    """Remove a kernel behind the manager's back: the agent sends no event for a destroy, so
    only its heartbeat tells the manager the kernel is gone."""
    token = (fake.root / "agent-token").read_text().strip()
    r = httpx.delete(
        f"http://127.0.0.1:{fake.agent_port}/v1/kernels/{kernel_id}",
        params={"grace": 0},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    r.raise_for_status()


def test_the_heartbeat_reconciles_the_others_when_a_row_breaks_it(fake: Cluster) -> None:
    c = fake.admin
    lost, bad = running(c), running(c)
    sql(fake, "UPDATE kernels SET status = 'weird' WHERE session_id = :id", id=bad["id"])
    destroy_on_agent(fake, lost["kernels"][0]["id"])

    # kernel-lost is decided only by the heartbeat reconciliation.
    ended = wait_status(c, lost["id"], {"ERROR"}, timeout=30)
    assert ended["status_info"] == "kernel-lost", ended
    broken = wait_raw(fake, bad["id"], "ERROR")
    assert_internal_error(broken, f"heartbeat of agent {fake.agent_id}", "weird")
    shown = c.get_session(bad["id"])  # its kernel row is readable again
    assert shown["kernels"][0]["status"] == "ERROR"


# --- the watchdog --------------------------------------------------------------------------


def register_ghost(fake: Cluster) -> str:
    """An agent that sends one heartbeat and is never heard of again, in a resource group of
    its own (nothing is scheduled on it)."""
    ghost = f"ghost-{secrets.token_hex(3)}"
    token = (fake.root / "agent-token").read_text().strip()
    beat = Heartbeat(
        agent_id=ghost,
        address="http://127.0.0.1:9",
        resource_group=ghost,
        capacity={"cpu": "1", "mem": str(2**30)},
    )
    r = httpx.post(
        f"{fake.url}/api/agent/v1/heartbeat",
        json=beat.model_dump(mode="json"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    r.raise_for_status()
    return ghost


def agent_status(c: Client, agent_id: str) -> str:
    return next(a["status"] for a in c.request("GET", "/api/agents") if a["id"] == agent_id)


def test_the_watchdog_repairs_the_others_when_a_row_breaks_it(fake: Cluster) -> None:
    c = fake.admin
    timed, bad = running(c), running(c)
    sql(
        fake,
        "UPDATE sessions SET type = 'batch', timeout_seconds = 1 WHERE id = :id",
        id=timed["id"],
    )
    sql(fake, "UPDATE sessions SET type = 'weird' WHERE id = :id", id=bad["id"])
    ghost = register_ghost(fake)
    try:
        # Both are decided only by the watchdog.
        ended = wait_status(c, timed["id"], "TERMINATED", timeout=30)
        assert (ended["status_info"], ended["result"]) == ("task-timeout", "FAILURE")
        wait_for(
            lambda: agent_status(c, ghost) == "LOST",
            HEARTBEAT_TIMEOUT + 30,
            what="the silent agent to be LOST",
        )
        # The heartbeat reads this row too: whichever loop meets it first ends it.
        broken = wait_raw(fake, bad["id"], "ERROR")
        assert broken["status_info"] == "internal-error" and broken["result"] == "FAILURE"
        assert "weird" in broken["status_data"]["error"]
    finally:
        sql(fake, "UPDATE sessions SET type = 'interactive' WHERE id = :id", id=bad["id"])
