"""Restart safety: stopping and starting the manager and/or the agent never kills a running
session, and a kernel that ended while its agent was down is reconciled with its reason."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from cluster import Cluster, wait_for, wait_status
from conftest import PYTHON_IMAGE
from dockerutil import exec_in, inspect, kill

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    """A cluster of its own per test: these tests kill its processes."""
    c = Cluster(db=request.param).start()
    try:
        yield c
    finally:
        if c.manager is None or c.manager.poll() is not None:
            c.start_manager()
        if c.agent is None or c.agent.poll() is not None:
            c.start_agent()
        c.close()


def _running(c: Cluster) -> tuple[dict, str]:
    [s] = c.admin.create_session(image=PYTHON_IMAGE, name="survivor")
    s = wait_status(c.admin, s["id"], "RUNNING")
    cid = s["kernels"][0]["container_id"]
    exec_in(cid, "sh", "-c", "echo kept > /home/work/state.txt")
    return s, cid


def _still_operable(c: Cluster, s: dict, cid: str) -> None:
    after = c.admin.get_session(s["id"])
    assert after["status"] == "RUNNING", after
    assert exec_in(cid, "cat", "/home/work/state.txt").strip() == "kept"
    assert c.admin.rename_session(s["id"], "survivor-2")["name"] == "survivor-2"
    c.admin.terminate_session(s["id"])
    ended = wait_status(c.admin, s["id"], "TERMINATED")
    assert ended["status_info"] == "user-requested"
    assert inspect(cid) is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_manager_restart_keeps_sessions(fresh: Cluster, sig: int) -> None:
    s, cid = _running(fresh)
    fresh.stop_manager(sig)
    assert inspect(cid)["State"]["Running"]
    fresh.start_manager()
    _still_operable(fresh, s, cid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_agent_restart_keeps_sessions(fresh: Cluster, sig: int) -> None:
    s, cid = _running(fresh)
    fresh.stop_agent(sig)
    assert inspect(cid)["State"]["Running"]
    fresh.start_agent()
    # After the restart the agent watches the re-adopted container again: an exit is seen.
    _still_operable(fresh, s, cid)


def test_both_restart_keeps_sessions(fresh: Cluster) -> None:
    s, cid = _running(fresh)
    fresh.stop_agent()
    fresh.stop_manager()
    fresh.start_manager()
    fresh.start_agent()
    _still_operable(fresh, s, cid)


def test_kernel_that_ended_while_agent_was_down_is_reconciled(fresh: Cluster) -> None:
    [interactive] = fresh.admin.create_session(image=PYTHON_IMAGE)
    [batch] = fresh.admin.create_session(
        type="batch", image=PYTHON_IMAGE,
        startup_command="while [ ! -e /home/work/go ]; do sleep 0.2; done; exit 5")
    interactive = wait_status(fresh.admin, interactive["id"], "RUNNING")
    batch = wait_status(fresh.admin, batch["id"], "RUNNING")
    fresh.stop_agent(signal.SIGKILL)
    kill(interactive["kernels"][0]["container_id"])
    exec_in(batch["kernels"][0]["container_id"], "touch", "/home/work/go")
    wait_for(lambda: not inspect(batch["kernels"][0]["container_id"])["State"]["Running"], 30,
             what="the batch container to exit")
    assert fresh.admin.get_session(batch["id"])["status"] == "RUNNING"  # nobody saw it yet
    fresh.start_agent()
    interactive = wait_status(fresh.admin, interactive["id"], "ERROR", timeout=30)
    assert (interactive["status_info"], interactive["exit_code"]) == ("kernel-died", 137)
    batch = wait_status(fresh.admin, batch["id"], "TERMINATED", timeout=30)
    assert (batch["status_info"], batch["result"], batch["exit_code"]) == (
        "task-failed", "FAILURE", 5)
    assert inspect(batch["kernels"][0]["container_id"]) is None


def test_session_created_while_agent_down_starts_when_it_returns(fresh: Cluster) -> None:
    fresh.stop_agent()
    [s] = fresh.admin.create_session(image=PYTHON_IMAGE)
    s = wait_for(lambda: (x := fresh.admin.get_session(s["id"]))["status_info"] ==
                 "no-available-resources" and x, 30, what="the session to wait for an agent")
    assert s["status"] == "PENDING"
    assert "no alive agent" in s["status_data"]["scheduler"]["message"]
    infos = [h["status_info"] for h in s["history"]]
    assert "agent-unreachable" in infos  # it was tried on the dead agent, then put back
    agents = fresh.admin.request("GET", "/api/agents")
    assert [a["status"] for a in agents if a["id"] == fresh.agent_id] == ["LOST"]
    fresh.start_agent()
    wait_status(fresh.admin, s["id"], "RUNNING", timeout=60)
