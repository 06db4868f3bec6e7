"""Several agents on one machine, all on the one Docker engine: three agent processes, each
with its own capacity, port range and (where the cores allow) CPU set. Sessions spread over
them; a designated agent is strict (the session waits for it, saying so, while others are
free, and starts there once it is freed); published host ports come from each agent's range;
``berth agents`` lists them with their free resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from cluster import Cluster, run_async, wait_for, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow
GiB = 2**30
CORES = os.cpu_count() or 1
SMALL = {"cpu": 1, "mem": "512m"}


def _agents() -> list[dict[str, str | None]]:
    """a0: one core by its cpuset (no cpu setting: capacity from the cpuset); a1: the second
    core where there is one; a2: two cores, no cpuset. 1.5-2 GiB each."""
    return [
        {"BERTH_AGENT_CPU": None, "BERTH_AGENT_CPUSET": "0", "BERTH_AGENT_MEM": str(2 * GiB)},
        {"BERTH_AGENT_CPU": "1", "BERTH_AGENT_CPUSET": "1" if CORES > 1 else None,
         "BERTH_AGENT_MEM": str(2 * GiB)},
        {"BERTH_AGENT_CPU": "2", "BERTH_AGENT_MEM": str(3 * GiB // 2)},
    ]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def trio(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    c = Cluster(db=request.param, agents=_agents()).start()
    try:
        yield c
    finally:
        c.close()


def berth_cli(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    token = c.admin.http.headers["Authorization"].split(" ", 1)[1]
    env = {**os.environ, "BERTH_ENDPOINT": c.url, "BERTH_API_KEY": token, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def port_range(c: Cluster, agent_id: str) -> range:
    first, _, last = c.node(agent_id).port_range.partition("-")
    return range(int(first), int(last) + 1)


async def _cpuset(container_id: str) -> str:
    import aiodocker

    docker = aiodocker.Docker()
    try:
        data = await (await docker.containers.get(container_id)).show()
        return str(data["HostConfig"].get("CpusetCpus") or "")
    finally:
        await docker.close()


def test_agents_report_capacity_port_range_and_cpuset(trio: Cluster) -> None:
    a0, a1, a2 = trio.agent_ids
    agents = {a["id"]: a for a in trio.admin.request("GET", "/api/agents")}
    assert set(trio.agent_ids) <= set(agents)
    assert agents[a0]["capacity"]["cpu"] == "1"  # the size of its cpuset "0"
    assert agents[a0]["info"]["cpuset"] == "0"
    assert agents[a1]["info"]["cpuset"] == ("1" if CORES > 1 else "")
    assert agents[a2]["capacity"]["cpu"] == "2" and agents[a2]["info"]["cpuset"] == ""
    ranges = [agents[i]["info"]["port_range"] for i in trio.agent_ids]
    assert ranges == [trio.node(i).port_range for i in trio.agent_ids]
    assert len(set(ranges)) == 3 and all(ranges)
    r = berth_cli(trio, "agents")
    assert r.returncode == 0, r.stderr
    for agent_id, shown in zip(trio.agent_ids, ranges, strict=True):
        line = next(ln for ln in r.stdout.splitlines() if agent_id + " " in ln)
        assert shown in line and "ALIVE" in line
    assert "1 / 1" in next(ln for ln in r.stdout.splitlines() if a0 + " " in ln)
    listed = json.loads(berth_cli(trio, "agents", "--json").stdout)
    assert {a["id"] for a in listed} >= set(trio.agent_ids)


def _session(c: Cluster, **fields: Any) -> dict[str, Any]:
    [s] = c.admin.create_session(image=PYTHON_IMAGE, resources=SMALL, **fields)
    return s


def test_sessions_spread_ports_in_range_and_a_designated_agent_is_strict(trio: Cluster) -> None:
    a0, a1, a2 = trio.agent_ids
    first = _session(trio, agent=a0)
    first = wait_status(trio.admin, first["id"], "RUNNING", timeout=120)
    assert first["agent_id"] == a0
    # three more fill the other agents (1 + 2 cores); the cluster's 4 cores are then all used
    others = [wait_status(trio.admin, _session(trio)["id"], "RUNNING", timeout=120)
              for _ in range(3)]
    placed = [first["agent_id"], *(s["agent_id"] for s in others)]
    assert sorted(placed) == sorted([a0, a1, a2, a2])
    # every published port is inside its agent's range
    for s in [first, *others]:
        ports = [p["host_port"] for k in s["kernels"] for p in k["app_ports"]]
        assert ports and all(p in port_range(trio, s["agent_id"]) for p in ports), (s, ports)
    if CORES > 1:
        assert run_async(_cpuset(first["kernels"][0]["container_id"])) == "0"
    # designated and busy: waits, saying so
    waiting = _session(trio, agent=a0, name="for-a0")

    def told() -> dict[str, Any] | None:
        s = trio.admin.get_session(waiting["id"])
        message = s["status_data"].get("scheduler", {}).get("message", "")
        return s if s["status"] == "PENDING" and a0 in message else None
    pending = wait_for(told, 30, what="the designated session to wait with its reason")
    assert pending["status_info"] == "no-available-resources"
    # freed: it starts there (and only there)
    trio.admin.terminate_session(first["id"])
    started = wait_status(trio.admin, waiting["id"], "RUNNING", timeout=120)
    assert started["agent_id"] == a0
    agents = {a["id"]: a for a in trio.admin.request("GET", "/api/agents")}
    assert agents[a0]["free"]["cpu"] == "0" and agents[a2]["free"]["cpu"] == "0"
    trio.end_all_sessions()


def test_one_agent_restarts_while_the_others_run(trio: Cluster) -> None:
    a0, _, a2 = trio.agent_ids
    s = wait_status(trio.admin, _session(trio, agent=a2)["id"], "RUNNING", timeout=120)
    trio.restart_agent(a2)
    again = trio.admin.get_session(s["id"])
    assert again["status"] == "RUNNING" and again["agent_id"] == a2
    agents = {a["id"]: a for a in trio.admin.request("GET", "/api/agents")}
    assert all(agents[i]["status"] == "ALIVE" for i in trio.agent_ids)
    assert agents[a2]["info"]["port_range"] == trio.node(a2).port_range
    trio.end_all_sessions()
