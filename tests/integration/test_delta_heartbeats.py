"""Delta heartbeats through a real manager and a real agent on the FakeBackend: after the first
beat the agent sends only what changed, a kernel that disappears without an event is still
reconciled, and after a manager restart the agent's delta is refused and a full beat follows.

What is observed: the agent logs every full beat it sends (``heartbeat N: full (why)``) and
the manager every delta it refuses; beats go on meanwhile (``last_heartbeat`` moves).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from berth.agent.backends.fake import FAKE_IMAGE
from cluster import Cluster, wait_for, wait_status

FULL_RE = re.compile(r"heartbeat (\d+): full \(([^)]*)\)")
RESOURCES = {"cpu": 0.1, "mem": "64m", "shmem": "1m"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(
        db="sqlite",
        agent_env={"BERTH_AGENT_BACKEND": "fake", "BERTH_AGENT_HEARTBEAT_INTERVAL": "0.5",
                   # Only the first beat, a refused delta or a failed post make a full one.
                   "BERTH_AGENT_HEARTBEAT_FULL_EVERY": "100000"},
    )
    try:
        c.start()
        yield c
    finally:
        c.close()


def fulls(c: Cluster) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for m in FULL_RE.finditer(c.log("agent"))]


def agent_row(c: Cluster) -> dict[str, Any]:
    return next(a for a in c.admin.request("GET", "/api/agents") if a["id"] == c.agent_id)


def wait_beats(c: Cluster, n: int) -> None:
    """Until the manager has handled ``n`` more beats of the agent, which stays ALIVE."""
    seen = {agent_row(c)["last_heartbeat"]}
    first = len(seen)

    def enough() -> bool:
        row = agent_row(c)
        assert row["status"] == "ALIVE", row
        seen.add(row["last_heartbeat"])
        return len(seen) - first >= n
    wait_for(enough, 30, interval=0.1, what=f"{n} more heartbeats")


def running(c: Cluster) -> dict[str, Any]:
    [s] = c.admin.create_session(image=FAKE_IMAGE, type="interactive", resources=RESOURCES)
    return wait_status(c.admin, s["id"], "RUNNING", timeout=30)


def test_beats_after_the_first_are_deltas_and_reconcile(cluster: Cluster) -> None:
    keep, lose = running(cluster), running(cluster)
    wait_beats(cluster, 3)
    before = fulls(cluster)
    assert before and before[0] == (1, "first"), before
    wait_beats(cluster, 5)
    assert fulls(cluster) == before, "a full beat was sent where a delta would do"

    # A kernel removed behind the manager's back: no event, only the beat's ``gone`` says so.
    token = (cluster.root / "agent-token").read_text().strip()
    httpx.delete(f"http://127.0.0.1:{cluster.agent_port}/v1/kernels/{lose['kernels'][0]['id']}",
                 params={"grace": 0}, headers={"Authorization": f"Bearer {token}"},
                 timeout=30).raise_for_status()
    ended = wait_status(cluster.admin, lose["id"], {"ERROR"}, timeout=30)
    assert ended["status_info"] == "kernel-lost", ended
    assert fulls(cluster) == before, "the lost kernel was reconciled by a full beat"
    assert cluster.admin.get_session(keep["id"])["status"] == "RUNNING"


def test_after_a_manager_restart_the_delta_is_refused_and_a_full_beat_follows(
        cluster: Cluster) -> None:
    kept = running(cluster)
    wait_beats(cluster, 2)
    before = fulls(cluster)
    agent = cluster.agent
    assert agent is not None
    # Freeze the agent between two beats, so that its next one is a delta (not a full one
    # after a failed post) and reaches a manager that forgot it.
    wait_beats(cluster, 1)
    agent.send_signal(signal.SIGSTOP)
    try:
        cluster.stop_manager()
        cluster.start_manager()
    finally:
        agent.send_signal(signal.SIGCONT)
    wait_for(lambda: len(fulls(cluster)) > len(before), 30, what="a full beat")
    seq, why = fulls(cluster)[len(before)]
    assert why == "asked", fulls(cluster)
    assert f"heartbeat {seq - 1} of agent {cluster.agent_id}: delta refused" in cluster.log(
        "manager")
    wait_beats(cluster, 3)  # ALIVE throughout (wait_beats checks)
    assert cluster.admin.get_session(kept["id"])["status"] == "RUNNING"
    assert len(fulls(cluster)) == len(before) + 1, "deltas again after the full beat"
