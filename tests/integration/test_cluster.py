"""Cluster sessions (single-node) on the real engine: N kernels main1, sub1, ... in a private
network of the session, reaching each other by hostname and by SSH without a password, with
the cluster variables set; logs per kernel; the whole session ends together (terminated by
the user, its command finished, or one kernel failing), its containers and network removed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
import websockets

from cluster import Cluster, run_async, wait_for, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow
SMALL = {"cpu": 1, "mem": "512m"}


async def _engine(session_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(containers, networks) the engine has for the session, whatever their state."""
    import aiodocker

    docker = aiodocker.Docker()
    label = {"label": [f"berth.session-id={session_id}"]}
    try:
        containers = [await c.show() for c in await docker.containers.list(all=True,
                                                                            filters=label)]
        networks = await docker.networks.list(filters=label)
        return containers, networks
    finally:
        await docker.close()


def engine(session_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    found: tuple[list[dict[str, Any]], list[dict[str, Any]]] = run_async(_engine(session_id))
    return found


async def _kill(container_id: str) -> None:
    import aiodocker

    docker = aiodocker.Docker()
    try:
        await (await docker.containers.get(container_id)).kill()
    finally:
        await docker.close()


def gone(session_id: str) -> bool:
    containers, networks = engine(session_id)
    return not containers and not networks


def logs(c: Cluster, ref: str, kernel: str | None = None) -> str:
    return b"".join(c.admin.logs(ref, kernel=kernel)).decode(errors="replace")


SCRIPT = r"""
set -e
echo "env: $BERTH_CLUSTER_ROLE $BERTH_CLUSTER_IDX $BERTH_CLUSTER_HOST" \
  "$BERTH_CLUSTER_HOSTS $BERTH_CLUSTER_SIZE"
getent hosts sub1 sub2 | awk '{print "resolves:", $2}'
for h in sub1 sub2; do
  ssh -o BatchMode=yes "$h" \
    'echo "via-ssh: $(hostname) $(tr "\0" "\n" </proc/1/environ | grep ^BERTH_CLUSTER_ROLE=)"'
done
"""


def test_batch_cluster_reaches_every_kernel_by_name_and_ssh(berth: Cluster) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE, resources=SMALL,
                                     cluster_size=3, startup_command=SCRIPT)
    assert s["cluster_size"] == 3 and s["cluster_mode"] == "single-node"
    assert [(k["cluster_hostname"], k["role"]) for k in s["kernels"]] == [
        ("main1", "main"), ("sub1", "sub"), ("sub2", "sub")]
    done = wait_status(berth.admin, s["id"], {"TERMINATED", "ERROR"}, timeout=180)
    out = logs(berth, s["id"])
    assert done["result"] == "SUCCESS", (done, out)
    assert "env: main 1 main1 main1,sub1,sub2 3" in out
    assert "resolves: sub1" in out and "resolves: sub2" in out
    assert "via-ssh: sub1 BERTH_CLUSTER_ROLE=sub" in out
    assert "via-ssh: sub2 BERTH_CLUSTER_ROLE=sub" in out
    assert len({k["agent_id"] for k in done["kernels"]}) == 1  # single-node
    wait_for(lambda: gone(s["id"]), 60, what="the cluster's containers and network to go")


def test_interactive_cluster_logs_per_kernel_and_terminate_ends_all(berth: Cluster) -> None:
    [s] = berth.admin.create_session(image=PYTHON_IMAGE, resources=SMALL, cluster_size=3,
                                     name="trio")
    running = wait_status(berth.admin, s["id"], "RUNNING", timeout=180)
    assert all(k["container_id"] for k in running["kernels"])  # RUNNING once all have started
    containers, networks = engine(s["id"])
    assert len(containers) == 3 and all(c["State"]["Running"] for c in containers)
    [network] = networks
    assert network["Name"] == f"berth-{s['id']}"
    assert {c["Config"]["Hostname"] for c in containers} == {"main1", "sub1", "sub2"}
    for c in containers:  # each kernel is on the session's network under its hostname
        endpoint = c["NetworkSettings"]["Networks"][network["Name"]]
        assert c["Config"]["Hostname"] in endpoint["Aliases"]
    # logs per kernel, by hostname or id
    sub1 = next(k for k in running["kernels"] if k["cluster_hostname"] == "sub1")
    wait_for(lambda: "cluster kernel sub1 (sub) has sshd" in logs(berth, "trio", "sub1"), 30,
             what="sub1's log line")
    assert "cluster kernel sub1" in logs(berth, "trio", sub1["id"])
    assert "cluster kernel main1 (main)" in logs(berth, "trio")
    with pytest.raises(Exception, match="404|no kernel"):
        logs(berth, "trio", "sub9")
    # a terminal and an app in another kernel than main1
    seen = run_async(_terminal(berth, s["id"], "sub2", "echo on-$(hostname)\r", "on-sub2"))
    assert "on-sub2" in seen
    headers = berth.admin.http.headers
    opened = httpx.post(f"{berth.url}/api/sessions/{s['id']}/apps/sshd/open",
                        params={"kernel": "sub1"}, json={}, headers=headers, timeout=120)
    assert opened.status_code == 200, opened.text
    assert run_async(_banner(opened.json()["proxy_port"])).startswith(b"SSH-2.0")
    assert berth.sql("SELECT app, kernel_id FROM app_routes WHERE session_id = :s",
                     s=s["id"]) == [("sshd@sub1", sub1["id"])]
    closed = httpx.delete(f"{berth.url}/api/sessions/{s['id']}/apps/sshd",
                          params={"kernel": "sub1"}, headers=headers)
    assert closed.status_code == 204
    assert berth.sql("SELECT app FROM app_routes WHERE session_id = :s", s=s["id"]) == []
    missing = httpx.post(f"{berth.url}/api/sessions/{s['id']}/apps/sshd/open",
                         params={"kernel": "sub9"}, json={}, headers=headers)
    assert missing.status_code == 404
    ended = berth.admin.terminate_session(s["id"])
    ended = wait_status(berth.admin, s["id"], "TERMINATED", timeout=60)
    assert ended["status_info"] == "user-requested"
    wait_for(lambda: gone(s["id"]), 60, what="the cluster's containers and network to go")
    assert "cluster kernel sub2" in logs(berth, s["id"], "sub2")  # kept after the end


async def _terminal(c: Cluster, ref: str, kernel: str, data: str, expect: str) -> str:
    url = (c.url.replace("http://", "ws://")
           + f"/api/sessions/{ref}/terminal?cols=120&rows=40&kernel={kernel}")
    seen = ""
    token = c.admin.http.headers["Authorization"]
    async with websockets.connect(url, additional_headers={"Authorization": token}) as ws:
        async def until(text: str) -> None:
            nonlocal seen
            async with asyncio.timeout(30):
                while text not in seen:
                    message = await ws.recv()
                    if isinstance(message, str):
                        raise AssertionError(f"terminal error: {message}")
                    seen += message.decode(errors="replace")
        await until("$")
        await ws.send(json.dumps({"type": "input", "data": data}))
        await until(expect)
    return seen


async def _banner(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()


def test_a_failing_sub_kernel_ends_the_whole_session(berth: Cluster) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE, resources=SMALL,
                                     cluster_size=2, startup_command="sleep 600")
    running = wait_status(berth.admin, s["id"], "RUNNING", timeout=180)
    sub1 = next(k for k in running["kernels"] if k["cluster_hostname"] == "sub1")
    run_async(_kill(sub1["container_id"]))
    ended = wait_status(berth.admin, s["id"], {"TERMINATED", "ERROR"}, timeout=60)
    assert ended["result"] == "FAILURE" and ended["status_info"] == "task-failed"
    wait_for(lambda: gone(s["id"]), 60, what="main1 and the network to be removed too")


def test_cluster_requests_that_cannot_run_are_refused(berth: Cluster) -> None:
    def refusal(**fields: Any) -> dict[str, str]:
        r = httpx.post(f"{berth.url}/api/sessions", json={"image": PYTHON_IMAGE, **fields},
                       headers=berth.admin.http.headers)
        assert r.status_code == 422, r.text
        return {".".join(map(str, e["loc"][1:])): e["msg"] for e in r.json()["detail"]}

    assert refusal(cluster_mode="multi-node", cluster_size=2) == {
        "cluster_mode": "multi-node clusters are not supported yet; use single-node"}
    errors = refusal(cluster_size=5, resources=SMALL)  # 5 x 1 core; the agent has 4
    assert errors["cluster_size"].startswith("5 kernels need 5 cores (cpu) on one agent")


def berth_cli(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    token = c.admin.http.headers["Authorization"].split(" ", 1)[1]
    env = {**os.environ, "BERTH_ENDPOINT": c.url, "BERTH_API_KEY": token, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_cli_creates_a_cluster_and_shows_its_kernels(berth: Cluster) -> None:
    r = berth_cli(berth, "session", "create", "-i", PYTHON_IMAGE, "-n", "cli-duo", "--cpu", "1",
                  "--mem", "512m", "--cluster-size", "2")
    assert r.returncode == 0 and "RUNNING" in r.stdout, r.stdout + r.stderr
    info = berth_cli(berth, "session", "info", "cli-duo").stdout
    assert "single-node, 2 kernels" in info
    assert re.search(r"main1\s+main", info) and re.search(r"sub1\s+sub", info)
    out = berth_cli(berth, "session", "logs", "cli-duo", "--kernel", "sub1").stdout
    assert "cluster kernel sub1 (sub)" in out
    r = berth_cli(berth, "session", "create", "-i", PYTHON_IMAGE, "--cluster-size", "2",
                  "--cluster-mode", "multi-node")
    assert r.returncode != 0 and "multi-node clusters are not supported yet" in r.stderr
    assert berth_cli(berth, "session", "terminate", "cli-duo").returncode == 0


async def _networks_of_backend() -> tuple[int, int]:
    """Concurrent creates make one network; a sweep removes it once no container uses it."""
    import secrets

    import aiodocker

    from berth.agent.backends.docker import DockerBackend

    agent_id = f"test-net-{secrets.token_hex(4)}"
    backend = DockerBackend(agent_id)
    docker = aiodocker.Docker()
    label = {"label": [f"berth.agent-id={agent_id}"]}
    try:
        name = backend.network_name("s1")
        await asyncio.gather(*(backend._ensure_network("s1", name) for _ in range(4)))
        made = len(await docker.networks.list(filters=label))
        await backend.sweep_networks()
        return made, len(await docker.networks.list(filters=label))
    finally:
        for net in await docker.networks.list(filters=label):
            await (await docker.networks.get(net["Id"])).delete()
        await docker.close()
        await backend.close()


def test_session_network_is_made_once_and_swept_when_unused(docker_ready: None) -> None:
    assert run_async(_networks_of_backend()) == (1, 0)
