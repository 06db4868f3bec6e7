"""An agent with MOCK GPUs (``BERTH_AGENT_MOCK_GPUS``) on the real Docker engine, driven
through its own HTTP API as the manager would drive it (the manager's scheduling of
accelerators is not part of this test): the allocation a CreateKernel carries reaches the
container's environment, a clashing or unknown allocation is refused with create-failed and
leaves no container, and a restarted agent reads what its containers hold back from their
labels (ignoring a bad label), still refuses a clash, and frees the devices of a destroyed
kernel. The "manager" here is a recorder of heartbeats and events."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiodocker
import httpx
import pytest

from berth import rpc
from cluster import free_port, run_async, wait_for
from conftest import PYTHON_IMAGE
from dockerutil import exec_in, inspect

pytestmark = pytest.mark.slow
TOKEN = "accelerator-test-token"
GiB = 2**30


class Recorder:
    """A stand-in manager on loopback: records every heartbeat and kernel event the agent
    posts and answers 200 (a heartbeat with a :class:`HeartbeatReply` that acknowledges
    nothing, so that every beat is full)."""

    def __init__(self) -> None:
        self.heartbeats: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = b"{}"
                if self.path.endswith("/heartbeat"):
                    recorder.heartbeats.append(body)
                    # Acknowledges nothing: every beat stays full (all kernels listed).
                    answer = rpc.HeartbeatReply(ack=None).model_dump_json().encode()
                elif self.path.endswith("/events"):  # a batch (KernelEvents)
                    recorder.events.extend(body["events"])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def event(self, kernel_id: str, kinds: set[str] | None = None) -> dict[str, Any] | None:
        for event in self.events:
            if event["kernel"]["kernel_id"] == kernel_id and (kinds is None
                                                             or event["kind"] in kinds):
                return event
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MockGpuAgent:
    """One ``berth agent`` process with two 16 GiB MOCK GPUs, reporting to a Recorder."""

    def __init__(self, root: Path, recorder: Recorder) -> None:
        self.id = f"test-acc-{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = root
        self.recorder = recorder
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BERTH_")},
            "BERTH_CONFIG": str(root / "none.toml"), "BERTH_DATA_DIR": str(root),
            "BERTH_AGENT_ID": self.id, "BERTH_AGENT_PORT": str(self.port),
            "BERTH_AGENT_TOKEN": TOKEN, "BERTH_AGENT_MANAGER_URL": recorder.url,
            "BERTH_AGENT_DATA_DIR": str(root / "agent"), "BERTH_AGENT_CPU": "4",
            "BERTH_AGENT_MEM": str(4 * GiB), "BERTH_AGENT_HEARTBEAT_INTERVAL": "0.5",
            "BERTH_AGENT_MOCK_GPUS": "0:16g,1:16g",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"})

    @property
    def log(self) -> str:
        return (self.root / "agent.log").read_text(errors="replace")

    def start(self) -> None:
        with (self.root / "agent.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "berth.cli.main", "agent", "--log-level", "info"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log[-3000:]
            try:
                return self.http.get("/v1/health").status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, 60, what="the agent to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def heartbeat_after(self, count: int) -> dict[str, Any]:
        """The first heartbeat recorded after the first ``count`` ones."""
        found: dict[str, Any] = wait_for(
            lambda: self.recorder.heartbeats[count] if len(self.recorder.heartbeats) > count
            else None, 30, what="a heartbeat")
        return found

    def create(self, kernel_id: str, *allocations: dict[str, Any]) -> None:
        spec = rpc.CreateKernel(
            kernel_id=kernel_id, session_id=f"s-{kernel_id}", session_name="gpu-test",
            owner_id="u1", session_type="interactive", image=PYTHON_IMAGE, cpu=0.5,
            mem=256 * 2**20, shmem=64 * 2**20, environ={"FOO": "bar"},
            accelerators=list(allocations))
        r = self.http.post("/v1/kernels", content=spec.model_dump_json(),
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 202, r.text

    def outcome(self, kernel_id: str) -> dict[str, Any]:
        """The kernel's started or create-failed event, once it came."""
        found: dict[str, Any] = wait_for(
            lambda: self.recorder.event(kernel_id, {"started", "create-failed"}), 90,
            what=f"kernel {kernel_id} to start or fail")
        return found

    def close(self) -> None:
        self.stop()
        self.http.close()
        run_async(_remove_containers(self.id))


async def _remove_containers(agent_id: str) -> None:
    docker = aiodocker.Docker()
    try:
        for c in await docker.containers.list(
                all=True, filters={"label": [f"berth.agent-id={agent_id}"]}):
            await c.delete(force=True)
    finally:
        await docker.close()


async def _plant_container(agent_id: str, kernel_id: str, label: str) -> None:
    """A container that looks like this agent's kernel, with ``label`` as its accelerators
    label (as anyone with access to the engine could make one)."""
    docker = aiodocker.Docker()
    try:
        container = await docker.containers.create({
            "Image": PYTHON_IMAGE, "Cmd": ["sleep", "infinity"], "User": "1000:1000",
            "Labels": {"berth.agent-id": agent_id, "berth.kernel-id": kernel_id,
                       "berth.session-id": f"s-{kernel_id}", "berth.accelerators": label},
            "HostConfig": {"Init": True, "CapDrop": ["ALL"]}}, name=f"berth-{kernel_id}")
        await container.start()
    finally:
        await docker.close()


@pytest.fixture
def agent(tmp_path: Path, docker_ready: None) -> Iterator[MockGpuAgent]:
    recorder = Recorder()
    node = MockGpuAgent(tmp_path, recorder)
    try:
        node.start()
        yield node
    finally:
        node.close()
        recorder.close()


def whole(device: str) -> dict[str, Any]:
    return {"slot_prefix": "mock-gpu", "mode": "whole", "devices": {device: "1"}}


def shares(device: str, amount: str) -> dict[str, Any]:
    return {"slot_prefix": "mock-gpu", "mode": "shares", "devices": {device: amount}}


def container_env(container_id: str) -> dict[str, str]:
    lines = exec_in(container_id, "env").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


GPU_VARS = ("CUDA_VISIBLE_DEVICES", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
            "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "BERTH_MOCK_GPU")


def test_mock_gpus_reach_containers_survive_a_restart_and_refuse_clashes(
        agent: MockGpuAgent) -> None:
    beat = agent.heartbeat_after(0)
    assert beat["capacity"]["mock-gpu.device"] == "2"
    assert beat["capacity"]["mock-gpu.shares"] == "2"
    mock = next(a for a in beat["accelerators"] if a["name"] == "mock-gpu")
    assert mock["mock"] is True and [d["id"] for d in mock["devices"]] == ["0", "1"]
    assert all(d["memory"] == 16 * GiB for d in mock["devices"])
    # NVIDIA is looked for (nvidia=auto) and, on a machine without GPUs, offers nothing.
    assert not any(a["name"] == "cuda" and a["devices"] for a in beat["accelerators"])

    tag = secrets.token_hex(3)
    k_whole, k_half = f"gw-{tag}", f"gh-{tag}"
    agent.create(k_whole, whole("1"))
    agent.create(k_half, shares("0", "0.5"))
    started = {k: agent.outcome(k) for k in (k_whole, k_half)}
    for event in started.values():
        assert event["kind"] == "started", event
    assert started[k_whole]["kernel"]["accelerators"] == [whole("1")]
    assert started[k_half]["kernel"]["accelerators"] == [shares("0", "0.5")]

    env = container_env(started[k_whole]["kernel"]["container_id"])
    assert {k: env.get(k) for k in GPU_VARS} == {
        "CUDA_VISIBLE_DEVICES": "1", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": None,
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": None, "BERTH_MOCK_GPU": "1"}
    assert env["FOO"] == "bar"
    env = container_env(started[k_half]["kernel"]["container_id"])
    assert {k: env.get(k) for k in GPU_VARS} == {
        "CUDA_VISIBLE_DEVICES": "0", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "50",
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=8192M", "BERTH_MOCK_GPU": "1"}
    info = inspect(started[k_half]["kernel"]["container_id"])
    assert info is not None
    assert json.loads(info["Config"]["Labels"]["berth.accelerators"]) == [shares("0", "0.5")]
    assert info["HostConfig"]["IpcMode"] != "host"  # a mock needs no host IPC

    # Clashes, an unknown device and a plugin this agent lacks: create-failed, no container.
    refused = {
        f"gc1-{tag}": (whole("0"), "mock-gpu: device 0 cannot be given whole: kernel "
                                   f"{k_half} holds 0.5 of it as shares"),
        f"gc2-{tag}": (shares("0", "0.6"), "mock-gpu: device 0 has 0.5 free (kernel "
                                           f"{k_half} holds 0.5), 0.6 wanted"),
        f"gc3-{tag}": (shares("1", "0.1"), f"mock-gpu: device 1 is taken whole by kernel "
                                           f"{k_whole}"),
        f"gc4-{tag}": (whole("7"), "mock-gpu: device 7 is not on this agent"),
        f"gc5-{tag}": ({"slot_prefix": "cuda", "mode": "whole", "devices": {"0": "1"}},
                       "cuda: this agent has no cuda devices"),
    }
    for kernel_id, (allocation, _) in refused.items():
        agent.create(kernel_id, allocation)
    for kernel_id, (_, message) in refused.items():
        event = agent.outcome(kernel_id)
        assert event["kind"] == "create-failed", event
        assert event["error"].startswith(message), event["error"]
        assert inspect(f"berth-{kernel_id}") is None

    # A container with a bad label, then an agent restart: labels are read back.
    k_bad = f"gb-{tag}"
    run_async(_plant_container(agent.id, k_bad, "{not json"))
    agent.stop()
    seen = len(agent.recorder.heartbeats)
    agent.start()
    beat = agent.heartbeat_after(seen)
    kernels = {k["kernel_id"]: k for k in beat["kernels"]}
    assert kernels[k_whole]["accelerators"] == [whole("1")]
    assert kernels[k_half]["accelerators"] == [shares("0", "0.5")]
    assert kernels[k_bad]["accelerators"] == []
    assert kernels[k_whole]["state"] == kernels[k_half]["state"] == "running"
    agent.heartbeat_after(seen + 3)
    # Logged once by this agent process, not at every heartbeat.
    since_restart = agent.log.rsplit("Started server process", 1)[1]
    assert since_restart.count(f"kernel {k_bad}: label berth.accelerators ignored, "
                               "not JSON") == 1
    assert beat["capacity"]["mock-gpu.device"] == "2"

    # What the containers hold is held again: a clash is still refused ...
    k_again = f"ga-{tag}"
    agent.create(k_again, whole("1"))
    event = agent.outcome(k_again)
    assert event["kind"] == "create-failed", event
    assert event["error"] == f"mock-gpu: device 1 is taken whole by kernel {k_whole}"
    # ... until the holder is destroyed: its device is free again.
    r = agent.http.delete(f"/v1/kernels/{k_whole}", params={"grace": 0})
    assert r.status_code == 200 and r.json()["existed"] is True
    k_after = f"gf-{tag}"
    agent.create(k_after, whole("1"))
    event = agent.outcome(k_after)
    assert event["kind"] == "started", event
    env = container_env(event["kernel"]["container_id"])
    assert (env["CUDA_VISIBLE_DEVICES"], env["BERTH_MOCK_GPU"]) == ("1", "1")


def test_a_bad_mock_gpus_setting_stops_the_agent_naming_the_field(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BERTH_")},
           "BERTH_CONFIG": str(tmp_path / "none.toml"), "BERTH_AGENT_TOKEN": TOKEN,
           "BERTH_AGENT_DATA_DIR": str(tmp_path), "BERTH_AGENT_MOCK_GPUS": "0:16g,1:lots"}
    done = subprocess.run([sys.executable, "-m", "berth.cli.main", "agent"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    text = " ".join((done.stdout + done.stderr).split())
    assert "invalid agent settings" in text and "mock_gpus" in text
    assert "mock GPU devices[1].memory" in text

