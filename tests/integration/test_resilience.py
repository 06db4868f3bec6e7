"""No call to an agent waits forever: a frozen agent (SIGSTOP) or a stopped one gets a clear
503/504 naming it within a bounded time, never a hang or a 500, its sessions show it LOST,
and everything works again once it is back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from cluster import Cluster, run_async, wait_for, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow
#: Short agent timeouts, so that the test is quick; the defaults (5/30/10 s) bound the same way.
TIMEOUTS = {"BERTH_RPC_CONNECT_TIMEOUT": "2", "BERTH_RPC_CALL_TIMEOUT": "6",
            "BERTH_RPC_PROBE_INTERVAL": "3"}
#: Every answer about a frozen agent comes within this many seconds (measured).
BOUND = 20.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def rcluster(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    c = Cluster(db=request.param, manager_env=TIMEOUTS).start()
    try:
        yield c
    finally:
        if c.agent is not None and c.agent.poll() is None:
            os.kill(c.agent.pid, signal.SIGCONT)  # never leave it frozen
        else:
            c.start_agent()
        c.close()


@pytest.fixture(scope="module")
def running(rcluster: Cluster) -> dict[str, Any]:
    [s] = rcluster.admin.create_session(image=PYTHON_IMAGE, name="resilient")
    return wait_status(rcluster.admin, s["id"], "RUNNING")


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def assert_agent_error(r: httpx.Response, status: int, agent_id: str, took: float) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert agent_id in r.json()["detail"], r.text
    assert took < BOUND, f"{r.request.url} took {took:.1f} s"


async def terminal_first(c: Cluster, token: str, ref: str) -> tuple[str | bytes, int | None]:
    """The terminal's first message and, when it is an error, the close code."""
    url = c.url.replace("http://", "ws://") + f"/api/sessions/{ref}/terminal"
    async with websockets.connect(url, additional_headers={"Authorization": token}) as ws:
        async with asyncio.timeout(BOUND + 10):
            first = await ws.recv()
            if isinstance(first, bytes):
                return first, None
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return first, ws.close_code


class FollowedLog:
    """A followed log stream read in a thread: what came and when it ended."""

    def __init__(self, c: Cluster, ref: str) -> None:
        self.text = ""
        self.ended_at: float | None = None
        self.status: int | None = None
        self.started = threading.Event()
        headers = {"Authorization": c.admin.http.headers["Authorization"]}
        self.thread = threading.Thread(target=self._read, args=(c.url, ref, headers),
                                       daemon=True)
        self.thread.start()

    def _read(self, url: str, ref: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", f"{url}/api/sessions/{ref}/logs", params={"follow": "true"},
                          headers=headers, timeout=httpx.Timeout(120)) as r:
            self.status = r.status_code
            self.started.set()
            for chunk in r.iter_text():
                self.text += chunk
        self.ended_at = time.monotonic()


def test_frozen_agent_answers_504_naming_it_then_recovers(
        rcluster: Cluster, running: dict[str, Any]) -> None:
    c, admin, ref = rcluster, rcluster.admin, running["id"]
    assert c.agent is not None
    http: httpx.Client = admin.http
    token = http.headers["Authorization"]
    follow = FollowedLog(c, ref)  # opened while the agent answers: headers come at once
    assert follow.started.wait(30) and follow.status == 200
    assert admin.get_session(ref)["agent_status"] == "ALIVE"
    os.kill(c.agent.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        # Mid-stream: the followed log ends, saying why, instead of hanging.
        wait_for(lambda: follow.ended_at is not None, BOUND, what="the followed log to end")
        assert follow.ended_at is not None and follow.ended_at - frozen_at < BOUND
        assert "[berth] the log ends here" in follow.text and c.agent_id in follow.text

        r, took = timed(lambda: http.post(f"/api/sessions/{ref}/apps/jupyter/open", json={},
                                          timeout=120))
        assert_agent_error(r, 504, c.agent_id, took)
        for params in ({}, {"follow": "true"}):
            r, took = timed(lambda p=params: http.get(  # type: ignore[misc]
                f"/api/sessions/{ref}/logs", params=p, timeout=120))
            assert_agent_error(r, 504, c.agent_id, took)
        r, took = timed(lambda: http.get(f"/api/sessions/{ref}/ssh-key", timeout=120))
        assert_agent_error(r, 504, c.agent_id, took)
        (message, code), took = timed(lambda: run_async(terminal_first(c, token, ref)))
        assert isinstance(message, str) and took < BOUND
        assert json.loads(message)["type"] == "error" and c.agent_id in message
        assert code == 4504

        # The UI's warning: the session's agent is LOST (and the session is kept).
        lost = wait_for(lambda: admin.get_session(ref)["agent_status"] == "LOST", 40,
                        what="the agent to be LOST")
        assert lost and admin.get_session(ref)["status"] == "RUNNING"
    finally:
        os.kill(c.agent.pid, signal.SIGCONT)

    wait_for(lambda: admin.get_session(ref)["agent_status"] == "ALIVE", 40,
             what="the agent to be ALIVE again")
    r = http.get(f"/api/sessions/{ref}/logs", timeout=60)
    assert r.status_code == 200
    assert http.post(f"/api/sessions/{ref}/apps/sshd/open", json={},
                     timeout=120).status_code == 200
    r = http.get(f"/api/sessions/{ref}/ssh-key", timeout=60)
    assert r.status_code == 200 and "PRIVATE KEY" in r.text
    message, code = run_async(terminal_first(c, token, ref))
    assert isinstance(message, bytes) and code is None
    r = http.post(f"/api/sessions/{ref}/apps/jupyter/open", json={}, timeout=180)
    assert r.status_code == 200, r.text


def test_stopped_agent_answers_503_naming_it(rcluster: Cluster, running: dict[str, Any]) -> None:
    c, ref = rcluster, running["id"]
    http: httpx.Client = c.admin.http
    c.stop_agent()  # the container keeps running; the agent's port refuses connections
    try:
        r, took = timed(lambda: http.get(f"/api/sessions/{ref}/ssh-key", timeout=60))
        assert_agent_error(r, 503, c.agent_id, took)
        assert "unreachable" in r.json()["detail"]
        r, took = timed(lambda: http.post(f"/api/sessions/{ref}/apps/sshd/open", json={},
                                          timeout=60))
        assert_agent_error(r, 503, c.agent_id, took)
        r, took = timed(lambda: http.get(f"/api/sessions/{ref}/logs", timeout=60))
        assert_agent_error(r, 503, c.agent_id, took)
        token = http.headers["Authorization"]
        message, code = run_async(terminal_first(c, token, ref))
        assert isinstance(message, str) and c.agent_id in message and code == 4503
    finally:
        c.start_agent()
    wait_for(lambda: c.admin.get_session(ref)["agent_status"] == "ALIVE", 40,
             what="the agent to be ALIVE again")
    assert http.get(f"/api/sessions/{ref}/logs", timeout=60).status_code == 200


def test_defaults_bound_a_frozen_agent_below_40_seconds() -> None:
    """The shipped defaults: the longest wait on a frozen agent is one call timeout (log
    headers, SSH key, terminal handshake) or one probe interval plus a health check (app
    start, log streams)."""
    from berth.settings import ManagerSettings

    default = {k: f.default for k, f in ManagerSettings.model_fields.items()}
    assert default["rpc_call_timeout"] + default["rpc_connect_timeout"] < 40
    assert default["rpc_probe_interval"] + default["rpc_connect_timeout"] < 40
