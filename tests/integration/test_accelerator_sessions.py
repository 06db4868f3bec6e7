"""Accelerators end to end on the real engine with the MOCK GPU plugin (issue 10): two agents
with different mock devices; the manager learns their slots from the heartbeats, the
scheduler gives specific devices (fill), the container sees the environment its allocation
implies, a session that cannot have its devices now waits naming the slot, one no agent could
ever hold is refused at once, and ending a session frees its devices for the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from berth.client import ApiError
from cluster import Cluster, wait_for, wait_status
from conftest import PYTHON_IMAGE
from dockerutil import exec_in

pytestmark = pytest.mark.slow
GiB = 2**30
SMALL = {"cpu": 1, "mem": "512m"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gpus(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    c = Cluster(db=request.param, agents=[
        {"BERTH_AGENT_MOCK_GPUS": "0:16g:MockA100,1:16g:MockA100", "BERTH_AGENT_CPU": "4"},
        {"BERTH_AGENT_MOCK_GPUS": "0:8g:MockT4", "BERTH_AGENT_CPU": "4"},
    ]).start()
    try:
        yield c
    finally:
        c.close()


def env_of(s: dict[str, Any], kernel: int = 0) -> dict[str, str]:
    out = exec_in(s["kernels"][kernel]["container_id"], "env")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def create(c: Cluster, agent: str | None = None, **slots: float) -> dict[str, Any]:
    [s] = c.admin.create_session(image=PYTHON_IMAGE, resources={**SMALL, **slots}, agent=agent)
    return s


def test_agents_report_their_mock_devices_and_the_group_offers_their_slots(gpus: Cluster) -> None:
    big, small = gpus.agent_ids
    agents = {a["id"]: a for a in gpus.admin.request("GET", "/api/agents")}
    assert agents[big]["capacity"]["mock-gpu.device"] == "2"
    assert agents[small]["capacity"]["mock-gpu.shares"] == "1"
    [plugin] = [p for p in agents[big]["info"]["accelerators"] if p["devices"]]
    assert plugin["name"] == "mock-gpu" and plugin["mock"] is True
    assert [(d["id"], d["memory"], d["model"]) for d in plugin["devices"]] == [
        ("0", 16 * GiB, "MockA100"), ("1", 16 * GiB, "MockA100")]
    check = gpus.admin.request("GET", "/api/resource-check")
    slots = {s["name"]: s for s in check["accelerators"]}
    assert set(slots) == {"mock-gpu.device", "mock-gpu.shares"}
    assert slots["mock-gpu.shares"]["step"] == "0.1" and slots["mock-gpu.device"]["mock"]
    assert check["max_per_container"]["mock-gpu.device"] == "2"
    env = {**os.environ, "BERTH_ENDPOINT": gpus.url, "COLUMNS": "250",
           "BERTH_API_KEY": gpus.admin.http.headers["Authorization"].split(" ", 1)[1]}
    shown = subprocess.run([sys.executable, "-m", "berth.cli.main", "agents"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "mock-gpu (MOCK)" in shown.stdout and "MockT4" in shown.stdout


def test_devices_are_given_enforced_in_the_environment_waited_for_and_freed(
        gpus: Cluster) -> None:
    big, small = gpus.agent_ids
    # Refused at once: more devices than any agent has; shares above one device; bad step.
    for slots, field, words in (({"mock-gpu.device": 3}, "mock-gpu.device", "largest agent"),
                                ({"mock-gpu.shares": 1.5}, "mock-gpu.shares", "at most 1"),
                                ({"mock-gpu.shares": 0.25}, "mock-gpu.shares", "step 0.1")):
        with pytest.raises(ApiError) as refused:
            create(gpus, **slots)
        assert refused.value.status == 422
        assert words in refused.value.fields[f"resources.{field}"], refused.value.fields
    # Two halves fill device 0 of the big agent; a whole device takes its device 1.
    half1 = wait_status(gpus.admin, create(gpus, big, **{"mock-gpu.shares": 0.5})["id"],
                        "RUNNING", timeout=120)
    half2 = wait_status(gpus.admin, create(gpus, big, **{"mock-gpu.shares": 0.5})["id"],
                        "RUNNING", timeout=120)
    whole = wait_status(gpus.admin, create(gpus, big, **{"mock-gpu.device": 1})["id"],
                        "RUNNING", timeout=120)
    for s in (half1, half2):
        [a] = s["kernels"][0]["accelerators"]
        assert a == {"slot_prefix": "mock-gpu", "mode": "shares", "devices": {"0": "0.5"}}
        env = env_of(s)
        assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["BERTH_MOCK_GPU"] == "1"
        assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "50"
        assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=8192M"
    assert whole["kernels"][0]["accelerators"][0]["devices"] == {"1": "1"}
    # The detail carries each held device with the agent's last figures.
    [device] = gpus.admin.get_session(half1["id"])["kernels"][0]["devices"]
    assert (device["plugin"], device["id"], device["mode"], device["amount"], device["model"],
            device["memory"]) == ("mock-gpu", "0", "shares", "0.5", "MockA100", 16 * GiB)
    assert "utilization" in device and "memory_used" in device
    env = env_of(whole)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in env
    # Admins see each device's use (fragmentation) and which kernels hold it.
    [agent] = [a for a in gpus.admin.request("GET", "/api/agents") if a["id"] == big]
    use = {d["id"]: d for d in agent["devices"]}
    assert (use["0"]["state"], use["0"]["shares_used"], use["0"]["shares_free"]) == (
        "shared", "1", "0")
    assert sorted(use["0"]["kernels"]) == sorted(s["kernels"][0]["id"] for s in (half1, half2))
    assert (use["1"]["state"], use["1"]["kernels"]) == ("whole", [whole["kernels"][0]["id"]])
    assert (agent["free"]["mock-gpu.device"], agent["free"]["mock-gpu.shares"]) == ("0", "0")
    # The big agent's devices are all taken: a designated session waits and says which slot.
    waiting = create(gpus, big, **{"mock-gpu.shares": 0.1})

    def says_why() -> str | None:
        s = gpus.admin.get_session(waiting["id"])
        message = s["status_data"].get("scheduler", {}).get("message", "")
        return message if s["status"] == "PENDING" and "mock-gpu.shares" in message else None
    message = wait_for(says_why, 60, what="the waiting session's reason")
    assert "no device has 0.1 free" in str(message)
    # The other agent (8 GiB device) serves a session that names no agent.
    t4 = wait_status(gpus.admin, create(gpus, **{"mock-gpu.shares": 0.3})["id"], "RUNNING",
                     timeout=120)
    assert t4["agent_id"] == small
    assert env_of(t4)["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == f"0={int(0.3 * 8192)}M"
    # Ending a half frees its share: the waiting session starts on device 0.
    gpus.admin.terminate_session(half1["id"], force=True)
    started = wait_status(gpus.admin, waiting["id"], "RUNNING", timeout=120)
    assert started["kernels"][0]["accelerators"][0]["devices"] == {"0": "0.1"}
    info = subprocess.run(
        [sys.executable, "-m", "berth.cli.main", "session", "info", started["name"]],
        env={**os.environ, "BERTH_ENDPOINT": gpus.url, "COLUMNS": "200",
             "BERTH_API_KEY": gpus.admin.http.headers["Authorization"].split(" ", 1)[1]},
        capture_output=True, text=True, timeout=60)
    assert "mock-gpu: 0.1 of device 0" in info.stdout, info.stdout
    for s in (half2, whole, t4, started):
        gpus.admin.terminate_session(s["id"], force=True)


def test_a_cluster_session_gets_whole_devices_per_kernel(gpus: Cluster) -> None:
    big, _ = gpus.agent_ids
    with pytest.raises(ApiError) as refused:
        gpus.admin.create_session(image=PYTHON_IMAGE, resources={**SMALL, "mock-gpu.shares": 0.5},
                                  cluster_size=2)
    assert "whole devices only" in refused.value.fields["resources.mock-gpu.shares"]
    [s] = gpus.admin.create_session(image=PYTHON_IMAGE, resources={**SMALL,
                                    "mock-gpu.device": 1}, cluster_size=2)
    s = wait_status(gpus.admin, s["id"], "RUNNING", timeout=180)
    assert s["agent_id"] == big
    seen = sorted(env_of(s, k)["CUDA_VISIBLE_DEVICES"] for k in range(2))
    assert seen == ["0", "1"], json.dumps(s["kernels"])
    gpus.admin.terminate_session(s["id"], force=True)
