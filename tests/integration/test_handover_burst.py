"""The batched hand-over through a real manager and a real agent on the FakeBackend: a burst of
placements reaches the agent in a few ``POST /v1/kernels/batch`` requests (counted in the
agent's access log), and an agent that cannot be reached puts the whole batch back in the
queue with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from berth.agent.backends.fake import FAKE_IMAGE
from berth.rpc import MAX_KERNELS_PER_BATCH
from cluster import Cluster, wait_for

MEM = 256 * 2**20
SMALL = {"cpu": 1, "mem": "256m", "shmem": "1m"}


@pytest.fixture
def berth() -> Iterator[Cluster]:
    """A manager and one FakeBackend agent with room for 250 small kernels; a stopped agent
    stays ALIVE (no heartbeat timeout within a test)."""
    c = Cluster(db="sqlite",
                agent_env={"BERTH_AGENT_BACKEND": "fake", "BERTH_AGENT_CPU": "250",
                           "BERTH_AGENT_MEM": str(250 * MEM)},
                manager_env={"BERTH_HEARTBEAT_TIMEOUT": "300"})
    try:
        c.start()
        yield c
    finally:
        c.close()


def queued(berth: Cluster, singles: int, clusters: int = 0) -> list[dict[str, Any]]:
    """Sessions created while the agent takes none, so that one scheduler pass places them
    all when it is made schedulable again."""
    admin = berth.admin
    admin.update_agent(berth.agent_id, schedulable=False)
    made: list[dict[str, Any]] = []
    while len(made) < singles:
        made += admin.create_session(image=FAKE_IMAGE, resources=SMALL,
                                     count=min(20, singles - len(made)))
    for _ in range(clusters):
        made += admin.create_session(image=FAKE_IMAGE, resources=SMALL, cluster_size=3)
    assert {admin.get_session(s["id"])["status"] for s in made[:3] + made[-3:]} == {"PENDING"}
    return made


def count(berth: Cluster, status: str) -> int:
    return int(berth.sql("SELECT count(*) FROM sessions WHERE status = :s", s=status)[0][0])


def test_a_burst_reaches_the_agent_in_a_few_requests(berth: Cluster) -> None:
    made = queued(berth, singles=200, clusters=4)
    kernels = 200 + 4 * 3
    berth.admin.update_agent(berth.agent_id, schedulable=True)
    wait_for(lambda: count(berth, "RUNNING") == len(made), 120, interval=0.5,
             what=f"{len(made)} sessions RUNNING")
    log = berth.log("agent")
    batches = log.count('"POST /v1/kernels/batch HTTP/1.1" 202')
    assert log.count('"POST /v1/kernels HTTP/1.1"') == 0
    # 212 kernels: at least 4 requests of 64; a cluster's 3 kernels never split, so a few more
    assert -(-kernels // MAX_KERNELS_PER_BATCH) <= batches <= 8, batches
    cluster = berth.admin.get_session(made[-1]["id"])
    assert [k["status"] for k in cluster["kernels"]] == ["RUNNING"] * 3


def test_an_unreachable_agent_puts_the_whole_batch_back(berth: Cluster) -> None:
    made = queued(berth, singles=30)
    berth.stop_agent()  # its row stays ALIVE: the manager finds out when it hands over
    berth.admin.update_agent(berth.agent_id, schedulable=True)

    def requeued() -> list[dict[str, Any]] | None:
        sessions = [berth.admin.get_session(s["id"]) for s in made]
        back = [s for s in sessions if s["status"] == "PENDING" and any(
            h["status_info"] == "agent-unreachable" for h in s["history"])]
        return sessions if len(back) == len(made) else None
    sessions = wait_for(requeued, 60, interval=0.5, what="every session back in the queue")
    entries = [next(h for h in s["history"] if h["status_info"] == "agent-unreachable")
               for s in sessions]
    for s, entry in zip(sessions, entries, strict=True):
        assert entry["status"] == "PENDING"
        assert entry["status_data"]["agent"] == berth.agent_id
        assert f"agent {berth.agent_id}" in entry["status_data"]["error"]
        assert "unreachable" in entry["status_data"]["error"]
        assert s["agent_id"] is None
    assert len({e["at"] for e in entries}) == 1  # one transaction for the whole batch
    assert len({e["status_data"]["error"] for e in entries}) == 1  # one request
    [agent] = [a for a in berth.admin.agents() if a["id"] == berth.agent_id]
    assert agent["status"] == "LOST"
