"""Idle checks on the real engine (issue 11), with second-scale limits and a check interval of
1 s: each session gets a user whose resource policy sets its checks, so tests share one
cluster without touching each other's settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import websockets

from berth.client import Client
from cluster import Cluster, run_async, wait_for, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
IMAGE = "berth/python:3.11"
INTERVAL = 1.0
SMALL = {"cpu": 1, "mem": "768m"}
#: Slack on a reclaim time: the check interval, the clocks, a loaded machine.
SLACK = INTERVAL + 3.0


def _cluster(db: str) -> Iterator[Cluster]:
    c = Cluster(db=db, manager_env={"BERTH_IDLE_CHECK_INTERVAL": str(INTERVAL)},
                agent_env={"BERTH_AGENT_USAGE_INTERVAL": "1", "BERTH_AGENT_CPU": "8",
                           "BERTH_AGENT_MEM": str(8 * 2**30)}).start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def idle_sqlite(docker_ready: None) -> Iterator[Cluster]:
    yield from _cluster("sqlite")


@pytest.fixture(scope="module")
def idle_postgres(docker_ready: None) -> Iterator[Cluster]:
    yield from _cluster("postgres")


def user_with(c: Cluster, **settings: Any) -> Client:
    """A new user whose resource policy holds ``settings`` (idle-check fields)."""
    name = f"idle-{secrets.token_hex(4)}"
    c.admin.request("POST", "/api/resource-policies", json={"name": name, **settings})
    user = c.user()
    c.admin.request("PATCH", f"/api/users/{user.me()['id']}", json={"resource_policy": name})
    return user


def start(user: Client, **fields: Any) -> str:
    [s] = user.create_session(image=IMAGE, resources=SMALL, **fields)
    return str(s["id"])


def ended(user: Client, sid: str, timeout: float = 60) -> dict[str, Any]:
    return wait_status(user, sid, {"TERMINATED"}, timeout)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def reclaimed_at(session: dict[str, Any]) -> datetime:
    """When the session left RUNNING (its TERMINATING history entry)."""
    return next(at(h["at"]) for h in session["history"] if h["status"] == "TERMINATING")


def terminating_info(session: dict[str, Any]) -> dict[str, Any]:
    return next(h for h in session["history"] if h["status"] == "TERMINATING")


# ---- traffic -----------------------------------------------------------------------------
async def type_in_terminal(c: Cluster, user: Client, sid: str, seconds: float) -> float:
    """Type a command every second for ``seconds`` through the manager's terminal relay;
    returns the unix time of the last keystroke."""
    url = c.url.replace("http://", "ws://") + f"/api/sessions/{sid}/terminal"
    token = user.http.headers["Authorization"]
    last = time.time()
    async with websockets.connect(url, additional_headers={"Authorization": token}) as ws:
        async def drain() -> None:
            async for _ in ws:
                pass
        reader = asyncio.create_task(drain())
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await ws.send(json.dumps({"type": "input", "data": "true\r"}))
            last = time.time()
            await asyncio.sleep(1)
        reader.cancel()
    return last


def ping_app(port: int, seconds: float) -> float:
    """GET the public app every second for ``seconds``; the unix time of the last one."""
    last = time.time()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        last = time.time()
        time.sleep(1)
    return last


ECHO = ("import http.server\nclass H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n        self.send_response(200); self.send_header("
        "'Content-Length','2'); self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self,*a): pass\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0',8080),H).serve_forever()\n")


def serve_echo(session: dict[str, Any]) -> None:
    container = session["kernels"][0]["container_id"]
    exec_in(container, "sh", "-c", f"printf '%s' \"{ECHO}\" > /tmp/echo.py && "
            "(nohup python3 /tmp/echo.py >/dev/null 2>&1 &)")


class Events:
    """The admin's event stream, collected in a thread (session.idle-warning and
    session.status, in arrival order)."""

    def __init__(self, c: Cluster) -> None:
        self.items: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        cookies = dict(c.admin.http.cookies)
        headers = dict(c.admin.http.headers)
        self.thread = threading.Thread(target=self._run, args=(c.url, cookies, headers),
                                       daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "the event stream did not open"

    def _run(self, url: str, cookies: dict[str, str], headers: dict[str, str]) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the manager stops at the module's end
            self._read(url, cookies, headers)

    def _read(self, url: str, cookies: dict[str, str], headers: dict[str, str]) -> None:
        with httpx.Client(base_url=url, cookies=cookies, headers=headers, timeout=None) as h, \
                h.stream("GET", "/api/events") as r:
            kind = ""
            for line in r.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready":
                        self.ready.set()
                elif line.startswith("data:") and kind != "ready":
                    self.items.append(json.loads(line[5:]))

    def of(self, sid: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e.get("session_id") == sid]


# ---- tests -------------------------------------------------------------------------------
def test_lifetime_network_terminal_and_public_app(idle_sqlite: Cluster) -> None:
    """In parallel: the lifetime alone; the network timeout alone on a busy session nobody
    talks to (warned first); a session whose user types in the terminal and one whose
    public app is used stay RUNNING past the timeout, and are reclaimed once that stops."""
    c = idle_sqlite
    lifetime_user = user_with(c, max_session_lifetime=8)
    busy_user = user_with(c, idle_timeout=10, warn_before=5)
    typing_user = user_with(c, idle_timeout=10)
    app_user = user_with(c, idle_timeout=10)
    events = Events(c)
    ids = {"lifetime": start(lifetime_user), "busy": start(busy_user),
           "typing": start(typing_user), "app": start(app_user, preopen_ports=[8080])}
    users = {"lifetime": lifetime_user, "busy": busy_user, "typing": typing_user,
             "app": app_user}
    running = {k: wait_status(users[k], sid, "RUNNING") for k, sid in ids.items()}
    exec_in(running["busy"]["kernels"][0]["container_id"], "sh", "-c",
            "(nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &)")
    serve_echo(running["app"])
    port = app_user.open_app(ids["app"], "port-8080", public=True)["proxy_port"]
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200, 20,
             what="the public app")
    # The API shows the countdown.
    idle = busy_user.get_session(ids["busy"])["idle"]
    network = next(ch for ch in idle["checks"] if ch["check"] == "network-timeout")
    assert network["enabled"] and 0 < network["remaining"] <= 10 and network["limit"] == 10
    assert network["urgency"] == "red"

    last: dict[str, float] = {}
    typing = threading.Thread(target=lambda: last.__setitem__("typing", run_async(
        type_in_terminal(c, typing_user, ids["typing"], 16))))
    typing.start()
    last["app"] = ping_app(port, 16)
    typing.join()
    started = {k: at(s["started_at"]) for k, s in running.items()}
    # 16 s of traffic, with a timeout of 10 s: both still run.
    for k in ("typing", "app"):
        assert users[k].get_session(ids[k])["status"] == "RUNNING", k

    done = {k: ended(users[k], sid) for k, sid in ids.items()}
    life = terminating_info(done["lifetime"])
    assert done["lifetime"]["status_info"] == "idle-session-lifetime"
    assert life["status_data"]["check"] == "session-lifetime"
    assert life["status_data"]["max_lifetime"] == 8 and life["status_data"]["lifetime"] >= 8
    delay = (reclaimed_at(done["lifetime"]) - started["lifetime"]).total_seconds()
    assert 8 <= delay <= 8 + SLACK, delay
    busy = terminating_info(done["busy"])
    assert done["busy"]["status_info"] == "idle-timeout"
    assert busy["status_data"]["idle_timeout"] == 10 and busy["status_data"]["idle_for"] >= 10
    delay = (reclaimed_at(done["busy"]) - started["busy"]).total_seconds()
    assert 10 <= delay <= 10 + SLACK, delay
    for k in ("typing", "app"):
        assert done[k]["status_info"] == "idle-timeout", k
        since_traffic = reclaimed_at(done[k]).timestamp() - last[k]
        assert 10 - 1.5 <= since_traffic <= 10 + SLACK, (k, since_traffic)
    # The warning came before the end, naming the check, once.
    busy_events = events.of(ids["busy"])
    warnings = [e for e in busy_events if e["type"] == "session.idle-warning"]
    assert len(warnings) == 1, busy_events
    assert warnings[0]["check"] == "network-timeout"
    assert warnings[0]["status_info"] == "idle-timeout"
    assert 0 < warnings[0]["remaining"] <= 5
    terminating = next(i for i, e in enumerate(busy_events) if e.get("status") == "TERMINATING")
    assert busy_events.index(warnings[0]) < terminating
    assert not [e for e in events.of(ids["lifetime"]) if e["type"] == "session.idle-warning"]
    events.stop.set()


def busy(session: dict[str, Any]) -> None:
    """Keep one core busy in the session (no user traffic)."""
    exec_in(session["kernels"][0]["container_id"], "sh", "-c",
            "(nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &)")


def test_utilization_alone_and_or_and_grace(idle_sqlite: Cluster) -> None:
    """In parallel, samples every second: an idle session is reclaimed by the utilization
    check, a busy one is not; "and" holds the verdict while the CPU is busy, "or" reclaims a
    busy session on its low memory; a grace period delays the verdict of an idle one."""
    c = idle_sqlite
    cpu_only = {"utilization_thresholds": {"cpu": 10}, "utilization_window": 5,
                "grace_period": 2}
    # The busy ones get 15 s of grace: their loop starts a few seconds after RUNNING (one
    # engine exec each, on a loaded machine).
    both = {"utilization_thresholds": {"cpu": 10, "mem": 50}, "utilization_window": 5,
            "grace_period": 15}
    users = {"busy": user_with(c, **{**cpu_only, "grace_period": 15}),
             "and": user_with(c, **both, utilization_combine="and"),
             "or": user_with(c, **both, utilization_combine="or"),
             "idle": user_with(c, **cpu_only),
             "grace": user_with(c, utilization_thresholds={"cpu": 10}, utilization_window=4,
                                grace_period=18)}
    ids = {k: start(u) for k, u in users.items()}
    running = {}
    for k, sid in ids.items():  # the busy ones first, each made busy at once
        running[k] = wait_status(users[k], sid, "RUNNING")
        if k in ("busy", "and", "or"):
            busy(running[k])
    started = {k: at(s["started_at"]) for k, s in running.items()}
    done = {k: ended(users[k], ids[k]) for k in ("idle", "or", "grace")}
    for k, d in done.items():
        assert d["status_info"] == "idle-utilization", k
        data = terminating_info(d)["status_data"]
        assert data["check"] == "utilization" and data["phase"] == "measuring", (k, data)
        delay = (reclaimed_at(d) - started[k]).total_seconds()
        assert delay >= {"grace": 18, "or": 15}.get(k, 5), (k, delay)
    idle_data = terminating_info(done["idle"])["status_data"]
    assert idle_data["below"] == ["cpu"] and idle_data["resources"]["cpu"]["average"] < 10
    or_data = terminating_info(done["or"])["status_data"]
    assert "mem" in or_data["below"] and or_data["resources"]["mem"]["threshold"] == 50
    assert or_data["combine"] == "or"
    grace = (reclaimed_at(done["grace"]) - started["grace"]).total_seconds()
    assert grace <= 18 + 1 + SLACK, grace  # the window was full long before the grace ended
    # The busy ones still run, and the API explains why: averages above the threshold.
    for k in ("busy", "and"):
        s = users[k].get_session(ids[k])
        assert s["status"] == "RUNNING", (k, s["status_info"], s["history"][-3:])
        cpu = next(u for u in s["idle"]["utilization"] if u["resource"] == "cpu")
        assert cpu["average"] > 10 and cpu["level"] == "ok" and cpu["coverage"] == "full", cpu
    assert users["and"].get_session(ids["and"])["idle"]["combine"] == "and"


@pytest.mark.parametrize(("body", "field"), [
    ({"idle_timeout": -1}, "idle_timeout"),
    ({"grace_period": 1.5}, "grace_period"),
    ({"warn_before": 10**9}, "warn_before"),
    ({"utilization_thresholds": {"gpu": 5}}, "utilization_thresholds"),
    ({"utilization_thresholds": {"cpu": 0}}, "utilization_thresholds"),
    ({"utilization_thresholds": {"cpu": 101}}, "utilization_thresholds"),
    ({"utilization_combine": "xor"}, "utilization_combine"),
])
def test_admin_api_refuses_bad_idle_settings(idle_sqlite: Cluster, body: dict[str, Any],
                                             field: str) -> None:
    c = idle_sqlite
    for method, path, extra in (
            ("POST", "/api/resource-policies", {"name": f"bad-{secrets.token_hex(3)}"}),
            ("PATCH", "/api/resource-groups/default", {})):
        r = c.admin.http.request(method, path, json={**extra, **body})
        assert r.status_code == 422, (method, r.text)
        assert any(d["loc"][:2] == ["body", field] for d in r.json()["detail"]), r.text


def test_admin_api_stores_and_clears_idle_settings(idle_sqlite: Cluster) -> None:
    c = idle_sqlite
    name = f"ok-{secrets.token_hex(3)}"
    settings = {"max_session_lifetime": 3600, "idle_timeout": 0, "utilization_window": 600,
                "grace_period": 300, "utilization_thresholds": {"cpu": 5, "accel_mem": 2.5},
                "utilization_combine": "or", "warn_before": 120}
    out = c.admin.request("POST", "/api/resource-policies", json={"name": name, **settings})
    assert {k: out[k] for k in settings} == settings
    out = c.admin.request("PATCH", f"/api/resource-policies/{name}",
                          json={"utilization_thresholds": None, "warn_before": 0})
    assert out["utilization_thresholds"] is None and out["warn_before"] == 0
    assert out["grace_period"] == 300
    group = c.admin.request("GET", "/api/resource-groups/default")
    assert group["idle_timeout"] is None and group["utilization_thresholds"] is None


def test_restart_keeps_the_deadlines(idle_postgres: Cluster) -> None:
    """The manager stops in the middle of both countdowns and comes back: the lifetime ends
    at the start + 40 s, the network timeout 36 s after the last keystroke before the stop
    (flushed as the manager stopped), not counted again from the restart. (A manager start
    takes 10-25 s on a loaded test machine, hence these limits.)"""
    c = idle_postgres
    life_user = user_with(c, max_session_lifetime=40)
    net_user = user_with(c, idle_timeout=36)
    life_id, net_id = start(life_user), start(net_user)
    life = wait_status(life_user, life_id, "RUNNING")
    wait_status(net_user, net_id, "RUNNING")
    last_key = run_async(type_in_terminal(c, net_user, net_id, 2))
    c.stop_manager()
    c.start_manager()
    assert time.time() - last_key < 36, "the restart took too long for this test"
    life_done, net_done = ended(life_user, life_id), ended(net_user, net_id)
    assert life_done["status_info"] == "idle-session-lifetime"
    delay = (reclaimed_at(life_done) - at(life["started_at"])).total_seconds()
    assert 40 <= delay <= 40 + SLACK, delay
    assert net_done["status_info"] == "idle-timeout"
    since_key = reclaimed_at(net_done).timestamp() - last_key
    assert 36 - 1.5 <= since_key <= 36 + SLACK, since_key
    stored = at(terminating_info(net_done)["status_data"]["last_activity_at"]).timestamp()
    assert abs(stored - last_key) < 1.5, (stored, last_key)
