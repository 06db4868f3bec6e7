"""Apps through the app proxy, on the real engine: Jupyter, the terminal (tmux), TensorBoard,
SSH/SFTP, preopen ports; who may use an app; routes after the end and across a restart."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from berth.client import ApiError, Client
from berth.domain.credentials import LOGIN_COOKIE
from cluster import Cluster, run_async, wait_for, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"
#: A server for preopen ports: answers every GET with the request line and headers it got.
ECHO_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.requestline + "\n" + str(self.headers)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def apps_cluster(docker_ready: None) -> Iterator[Cluster]:
    c = Cluster(db="sqlite").start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def owner(apps_cluster: Cluster) -> Client:
    return apps_cluster.user()


@pytest.fixture(scope="module")
def session(apps_cluster: Cluster, owner: Client) -> dict[str, Any]:
    """One interactive Python session with preopen ports 8080 and 8081 (echo servers)."""
    [s] = owner.create_session(image=PYTHON_IMAGE, preopen_ports=[8080, 8081],
                               resources={"cpu": 1, "mem": "1g"})
    s = wait_status(owner, s["id"], "RUNNING")
    container = s["kernels"][0]["container_id"]
    for port in (8080, 8081):
        start_echo(container, port)
    for host_port in [p["host_port"] for p in s["kernels"][0]["app_ports"]
                      if p["protocol"] == "preopen"]:
        wait_for(lambda: direct_answers(host_port), 20, what="echo server up")  # noqa: B023
    return s


def start_echo(container: str, port: int) -> None:
    exec_in(container, "sh", "-c", f"cd /tmp && printf '%s' '{ECHO_SERVER}' > echo{port}.py && "
            f"(nohup python3 echo{port}.py {port} >/dev/null 2>&1 &)")


def direct_answers(host_port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{host_port}/", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def browser() -> httpx.Client:
    """A client with no Berth credentials, like a browser that has not logged in."""
    return httpx.Client(timeout=30, follow_redirects=True)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return bool(sock.recv(16))
    except OSError:
        return False


def raw_get(port: int, head: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode(errors="replace")


# ---- Jupyter and the terminal ------------------------------------------------------------
def test_jupyter_runs_code_and_terminal_sees_its_files(apps_cluster: Cluster, owner: Client,
                                                       session: dict[str, Any]) -> None:
    opened = owner.open_app(session["id"], "jupyter")
    assert opened["url"].startswith("http://127.0.0.1:")
    assert "/__berth__/permit?token=" in opened["url"]
    assert opened["proxy_port"] in apps_cluster.proxy_pool
    with browser() as b:
        page = b.get(opened["url"])
        assert page.status_code == 200 and "JupyterLab" in page.text, page.text[:300]
        assert str(page.url).endswith("/lab")
        base = f"http://127.0.0.1:{opened['proxy_port']}"
        # No second login: the proxy adds Jupyter's token; Python kernel runs code.
        kernel = b.post(f"{base}/api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        cookie = "; ".join(f"{c.name}={c.value}" for c in b.cookies.jar)
        reply = run_async(_execute(base, kernel.json()["id"], cookie,
                                   "open('from-jupyter.txt','w').write('hello from jupyter')"))
        assert reply["status"] == "ok", reply
        content = b.get(f"{base}/api/contents/from-jupyter.txt", params={"content": 1})
        assert content.json()["content"] == "hello from jupyter"
    # The bare published port is not open to whoever finds it: Jupyter wants its token.
    host_port = next(p["host_port"] for p in session["kernels"][0]["app_ports"]
                     if p["name"] == "jupyter")
    assert httpx.get(f"http://127.0.0.1:{host_port}/api/contents").status_code == 403

    # The terminal: same files, tmux with a second shell, back to the same tmux after a
    # reconnect.
    token = owner.http.headers["Authorization"]
    run_async(_terminal(apps_cluster, session["id"], token, [
        ("ls\r", "from-jupyter.txt"),
        ("echo made-in-terminal > from-terminal.txt; echo done-$((6*7))\r", "done-42"),
        ("\x02c", None),
        ("echo second-$((6*7)) windows=$(tmux list-windows | wc -l)\r", "second-42 windows=2"),
    ]))
    # Ctrl-B PgUp scrolls back (tmux copy mode, left with q); ":set -g mouse off" leaves the
    # mouse to the browser for copying.
    container = session["kernels"][0]["container_id"]

    def tmux(*args: str) -> str:
        return exec_in(container, "tmux", *args).strip()
    for keys, check, want in (("\x02\x1b[5~", ("display", "-p", "#{pane_in_mode}"), "1"),
                              ("q", ("display", "-p", "#{pane_in_mode}"), "0"),
                              ("\x02:set -g mouse off\r", ("show", "-g", "mouse"), "mouse off")):
        run_async(_terminal(apps_cluster, session["id"], token, [(keys, None)]))
        wait_for(lambda: tmux(*check) == want, 10, what=f"tmux {check} == {want}")  # noqa: B023
    # A new connection (a reloaded page) finds the same tmux session with both shells.
    run_async(_terminal(apps_cluster, session["id"], token, [
        ("echo again windows=$(tmux list-windows | wc -l)\r", "again windows=2"),
    ]))
    with browser() as b:
        again = owner.open_app(session["id"], "jupyter")
        assert again["proxy_port"] == opened["proxy_port"]
        b.get(again["url"])
        seen = b.get(f"{base}/api/contents/from-terminal.txt", params={"content": 1})
        assert seen.json()["content"].strip() == "made-in-terminal"


async def _execute(base: str, kernel_id: str, cookie: str, code: str) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False},
    }
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie},
                                  origin=base) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps(request))
        async with asyncio.timeout(60):
            while True:
                msg = json.loads(await ws.recv())
                if (msg.get("msg_type") == "execute_reply"
                        and msg["parent_header"].get("msg_id") == msg_id):
                    return msg["content"]  # type: ignore[no-any-return]


async def _terminal(c: Cluster, ref: str, token: str,
                    steps: list[tuple[str, str | None]]) -> str:
    """Type each input and wait (with a deadline) until its expected text has appeared."""
    url = c.url.replace("http://", "ws://") + f"/api/sessions/{ref}/terminal?cols=120&rows=40"
    seen = ""
    async with websockets.connect(url, additional_headers={"Authorization": token}) as ws:
        async def until(text: str) -> None:
            nonlocal seen
            async with asyncio.timeout(30):
                while text not in seen:
                    message = await ws.recv()
                    if isinstance(message, str):
                        raise AssertionError(f"terminal error: {message}")
                    seen += message.decode(errors="replace")
        await until("$")  # a prompt
        for data, expect in steps:
            await ws.send(json.dumps({"type": "input", "data": data}))
            if expect is not None:
                await until(expect)
            else:
                await ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
    return seen


def test_terminal_refuses_strangers(apps_cluster: Cluster, owner: Client,
                                    session: dict[str, Any]) -> None:
    other = apps_cluster.user()
    url = apps_cluster.url.replace("http://", "ws://") + f"/api/sessions/{session['id']}/terminal"

    async def first_message(headers: dict[str, str]) -> str:
        async with websockets.connect(url, additional_headers=headers) as ws:
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, str)
            return message
    assert "authentication required" in run_async(first_message({}))
    assert "no session" in run_async(first_message(
        {"Authorization": other.http.headers["Authorization"]}))
    # The owner's login cookie, sent by a page of another origin (an app port of this very
    # host among them): the handshake itself is refused.
    login = httpx.post(f"{apps_cluster.url}/api/auth/login",
                       json={"email": owner.email, "password": owner.password})  # type: ignore
    cookie = f"{LOGIN_COOKIE}={login.cookies[LOGIN_COOKIE]}"
    for origin in ("http://evil.example", f"http://127.0.0.1:{apps_cluster.proxy_pool.start}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            run_async(first_message({"Cookie": cookie, "Origin": origin}))
        assert refused.value.response.status_code == 403


# ---- who may use an app ------------------------------------------------------------------
def test_private_app_is_for_the_owner_browser_only(apps_cluster: Cluster, owner: Client,
                                                   session: dict[str, Any]) -> None:
    opened = owner.open_app(session["id"], "port-8080")
    port = opened["proxy_port"]
    with browser() as anonymous:
        r = anonymous.get(f"http://127.0.0.1:{port}/")
        assert r.status_code == 403 and "owner" in r.text
    with browser() as b:
        r = b.get(opened["url"])
        assert r.status_code == 200 and r.text.startswith("GET / HTTP/1.1")
        assert f"berth_app_{port}" in b.cookies
        # The permit never reaches the app; other cookies do.
        permit = b.cookies[f"berth_app_{port}"]
        r = b.get(f"http://127.0.0.1:{port}/x",
                  headers={"Cookie": f"berth_app_{port}={permit}; mine=1"})
        assert r.status_code == 200 and "mine=1" in r.text and "berth_app_" not in r.text
    with browser() as thief:  # the one-time link was used
        r = thief.get(opened["url"])
        assert r.status_code == 403 and "used already" in r.text
        assert not thief.cookies
    # Another user can neither open it nor see it; nor can a permit of another app be used.
    other = apps_cluster.user()
    with pytest.raises(ApiError) as e:
        other.open_app(session["id"], "port-8080")
    assert e.value.status == 404
    second = owner.open_app(session["id"], "port-8081")
    with browser() as b:
        b.get(second["url"])
        permit = b.cookies[f"berth_app_{second['proxy_port']}"]
        r = httpx.get(f"http://127.0.0.1:{port}/",
                      headers={"Cookie": f"berth_app_{port}={permit}"})
        assert r.status_code == 403


def test_proxy_forwards_only_to_the_kernel(owner: Client, session: dict[str, Any]) -> None:
    opened = owner.open_app(session["id"], "port-8080", public=True)
    port = opened["proxy_port"]
    # An absolute-form target and a foreign Host header still reach the kernel's server.
    text = raw_get(port, "GET http://example.org:9/probe HTTP/1.1\r\nHost: example.org:9\r\n"
                         "Connection: close\r\n\r\n")
    assert text.startswith("HTTP/1.0 200") and "GET http://example.org:9/probe" in text
    bad = raw_get(port, "NOT A REQUEST\r\n\r\n")
    assert bad.startswith("HTTP/1.1 400")


def test_public_app_allowlist_preferred_port_and_traffic(apps_cluster: Cluster, owner: Client,
                                                         session: dict[str, Any]) -> None:
    pool = apps_cluster.proxy_pool
    taken = {a["route"]["proxy_port"] for a in owner.apps(session["id"]) if a["route"]}
    preferred = next(p for p in pool if p not in taken)
    opened = owner.open_app(session["id"], "port-8081", public=True, preferred_port=preferred)
    assert opened["proxy_port"] == preferred and opened["preferred_port_used"] is True
    assert httpx.get(f"http://127.0.0.1:{preferred}/").status_code == 200  # anyone
    # The same preferred port for another app: taken, so a random one, and the user is told.
    moved = owner.open_app(session["id"], "port-8080", public=True, preferred_port=preferred)
    assert moved["preferred_port_used"] is False and moved["proxy_port"] != preferred
    assert f"Port {preferred} is not free" in moved["message"]
    # The allowlist: 127.0.0.1 is outside 10.0.0.0/8.
    owner.open_app(session["id"], "port-8081", public=True, allowed_ips=["10.0.0.0/8"])
    r = httpx.get(f"http://127.0.0.1:{preferred}/")
    assert r.status_code == 403 and "127.0.0.1" in r.text
    owner.open_app(session["id"], "port-8081", public=True, allowed_ips=["127.0.0.0/24"])
    assert httpx.get(f"http://127.0.0.1:{preferred}/").status_code == 200
    with pytest.raises(ApiError) as e:
        owner.open_app(session["id"], "port-8081", allowed_ips=["300.1.1.1"])
    assert e.value.status == 422 and "allowed_ips" in e.value.fields
    with pytest.raises(ApiError) as e:
        owner.open_app(session["id"], "no-such-app")
    assert e.value.status == 422 and "name" in e.value.fields

    def traffic() -> str | None:
        app = next(a for a in owner.apps(session["id"]) if a["name"] == "port-8081")
        return app["route"]["last_traffic_at"]
    assert wait_for(traffic, 10, what="last traffic time stored")
    owner.close_app(session["id"], "port-8081")
    wait_for(lambda: not port_answers(preferred), 10, what="closed app port to stop answering")


# ---- TensorBoard and SSH -----------------------------------------------------------------
def test_tensorboard_uses_the_log_directory_asked_for(owner: Client,
                                                      session: dict[str, Any]) -> None:
    with browser() as b:
        first = owner.open_app(session["id"], "tensorboard")
        b.get(first["url"])
        base = f"http://127.0.0.1:{first['proxy_port']}"
        assert b.get(f"{base}/data/logdir").json()["logdir"] == "/home/work/logs"
        again = owner.open_app(session["id"], "tensorboard", logdir="/home/work/runs/b")
        assert again["proxy_port"] == first["proxy_port"]
        b.get(again["url"])
        assert b.get(f"{base}/data/logdir").json()["logdir"] == "/home/work/runs/b"
    with pytest.raises(ApiError) as e:
        owner.open_app(session["id"], "tensorboard", logdir="relative/dir")
    assert e.value.status == 422 and "logdir" in e.value.fields


def test_ssh_and_sftp_with_the_session_key(owner: Client, session: dict[str, Any]) -> None:
    opened = owner.open_app(session["id"], "sshd")
    ssh = opened["ssh"]
    assert opened["url"] is None and ssh["user"] == "work" and ssh["port"] == opened["proxy_port"]
    key = owner.ssh_key(session["id"])
    assert "PRIVATE KEY" in key
    container = session["kernels"][0]["container_id"]
    assert exec_in(container, "cat", "/home/work/id_container") == key
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "id_container"
        key_file.write_text(key)
        key_file.chmod(0o600)
        opts = ["-i", str(key_file), "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        r = subprocess.run(["ssh", *opts, "-p", str(ssh["port"]), f"work@{ssh['host']}",
                            "whoami; pwd; python -c 'print(6*7)'"],
                           capture_output=True, text=True, timeout=60)
        assert r.stdout.split() == ["work", "/home/work", "42"], r.stderr
        (Path(tmp) / "up.txt").write_text("via sftp")
        batch = Path(tmp) / "batch"
        batch.write_text(f"put {tmp}/up.txt /home/work/up.txt\nls /home/work\n")
        r = subprocess.run(["sftp", *opts, "-P", str(ssh["port"]), "-b", str(batch),
                            f"work@{ssh['host']}"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "up.txt" in r.stdout, r.stderr
    assert exec_in(container, "cat", "/home/work/up.txt") == "via sftp"
    # A wrong key is refused.
    with tempfile.TemporaryDirectory() as tmp:
        wrong = Path(tmp) / "k"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                       check=True)
        r = subprocess.run(["ssh", "-i", str(wrong), "-o", "StrictHostKeyChecking=no", "-o",
                            "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                            "-p", str(ssh["port"]), f"work@{ssh['host']}", "true"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0


# ---- the CLI ----------------------------------------------------------------------------
def owner_cli(c: Cluster, owner: Client, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_ENDPOINT": c.url, "COLUMNS": "200",
           "BERTH_API_KEY": owner.http.headers["Authorization"].split(" ", 1)[1],
           "XDG_CONFIG_HOME": str(c.root / "cli-config")}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_cli_lists_and_opens_apps_and_logs_in_over_ssh(apps_cluster: Cluster, owner: Client,
                                                        session: dict[str, Any]) -> None:
    r = owner_cli(apps_cluster, owner, "app", "open", session["name"], "port-8081", "--public",
                  "--allow-ip", "127.0.0.1", "--allow-ip", "10.1.0.0/16")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip().splitlines()[-1]
    assert "/__berth__/permit?token=" in url
    port = int(url.split(":")[2].split("/")[0])
    assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    listed = owner_cli(apps_cluster, owner, "app", "list", session["name"])
    assert "port-8081" in listed.stdout and f"127.0.0.1:{port}" in listed.stdout
    assert "terminal" in listed.stdout and "jupyter" in listed.stdout
    as_json = json.loads(owner_cli(apps_cluster, owner, "app", "list", session["id"],
                                   "--json").stdout)
    [app] = [a for a in as_json if a["name"] == "port-8081"]
    assert app["route"]["allowed_ips"] == ["127.0.0.1", "10.1.0.0/16"]
    bad = owner_cli(apps_cluster, owner, "app", "open", session["name"], "port-8081",
                    "--allow-ip", "nonsense")
    assert bad.returncode == 1 and "allowed_ips" in bad.stderr and "nonsense" in bad.stderr
    r = owner_cli(apps_cluster, owner, "ssh", session["name"], "--", "echo", "over-ssh-$((6*7))",
                  "&&", "whoami")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["over-ssh-42", "work"]
    key = apps_cluster.root / "cli-config" / "berth" / "ssh" / f"{session['id']}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# ---- routes across a restart and after the end -------------------------------------------
def test_routes_survive_a_manager_restart_and_end_with_the_session(
        apps_cluster: Cluster, owner: Client, session: dict[str, Any]) -> None:
    opened = owner.open_app(session["id"], "port-8080")
    port = opened["proxy_port"]
    b = browser()
    try:
        assert b.get(opened["url"]).status_code == 200
        apps_cluster.stop_manager()
        apps_cluster.start_manager()
        wait_for(lambda: port_answers(port), 30, what="app port back after the restart")
        # The permit the browser holds is still good.
        assert b.get(f"http://127.0.0.1:{port}/again").status_code == 200
    finally:
        b.close()
    owner.terminate_session(session["id"])
    wait_status(owner, session["id"], {"TERMINATED"})
    wait_for(lambda: not port_answers(port), 15, what="app port to stop answering")
    assert all(a["route"] is None for a in owner.apps(session["id"]))
    with pytest.raises(ApiError) as e:
        owner.open_app(session["id"], "port-8080")
    assert e.value.status == 409 and "RUNNING" in str(e.value)


def test_app_routes_on_postgres(docker_ready: None) -> None:
    c = Cluster(db="postgres").start()
    try:
        user = c.user()
        [s] = user.create_session(image=PYTHON_IMAGE, preopen_ports=[8080])
        s = wait_status(user, s["id"], "RUNNING")
        start_echo(s["kernels"][0]["container_id"], 8080)
        opened = user.open_app(s["id"], "port-8080", public=True)
        wait_for(lambda: direct_answers(opened["proxy_port"]), 15,
                 what="the echo server through the proxy")
        [app] = [a for a in user.apps(s["id"]) if a["name"] == "port-8080"]
        assert app["route"]["public"] is True and app["route"]["proxy_port"] == opened["proxy_port"]
        user.close_app(s["id"], "port-8080")
        wait_for(lambda: not port_answers(opened["proxy_port"]), 10, what="closed port")
    finally:
        c.close()

