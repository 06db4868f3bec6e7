"""``berth up`` supervises its manager and agent: either one killed is restarted and logged
while the other keeps serving, a running session survives both, and the agent finds the
manager's token although its data directory differs. Embedded mode is SQLite by design."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from berth.client import Client
from cluster import _remove_containers, free_port, run_async, wait_for, wait_status
from conftest import PYTHON_IMAGE
from dockerutil import inspect

pytestmark = pytest.mark.slow


def children(pid: int) -> dict[str, int]:
    """The running child processes of ``pid``: 'manager'/'agent' -> pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid, state = int(stat.rsplit(")", 1)[1].split()[1]), stat.rsplit(")", 1)[1].split()[0]
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if ppid == pid and state != "Z" and b"berth.cli.main" in args:
                found[args[args.index(b"berth.cli.main") + 1].decode()] = int(entry.name)
    return found


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    root: Path
    url: str
    agent_id: str
    agent_port: int
    admin: Client

    def output(self) -> str:
        return (self.root / "up.log").read_text(errors="replace")

    def agent_row(self) -> dict[str, str]:
        """The agent as the manager lists it; empty before it registered."""
        rows = [a for a in self.admin.request("GET", "/api/agents") if a["id"] == self.agent_id]
        return rows[0] if rows else {}


@pytest.fixture
def up(docker_ready: None) -> Iterator[Up]:
    root = Path(tempfile.mkdtemp(prefix="berth-up-"))
    port, agent_port = free_port(), free_port()
    first = 20000 + secrets.randbelow(400) * 30
    agent_id = f"test-up-{secrets.token_hex(4)}"
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env |= {"BERTH_DATA_DIR": str(root / "data"), "BERTH_CONFIG": str(root / "none.toml"),
            "BERTH_PORT": str(port), "BERTH_PROXY_PORTS": f"{first}-{first + 29}",
            "BERTH_SCHEDULE_INTERVAL": "0.5", "BERTH_HEARTBEAT_TIMEOUT": "10",
            # The agent's own data dir differs from the manager's: it must still find the token.
            "BERTH_AGENT_DATA_DIR": str(root / "agent"), "BERTH_AGENT_ID": agent_id,
            "BERTH_AGENT_PORT": str(agent_port), "BERTH_AGENT_MANAGER_URL": url,
            "BERTH_AGENT_CPU": "2", "BERTH_AGENT_MEM": str(2 * 2**30),
            "BERTH_AGENT_HEARTBEAT_INTERVAL": "1"}
    log = (root / "up.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "up", "--log-level", "info"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    admin = Client(endpoint=url, api_key="")
    try:
        wait_for(lambda: (root / "data" / "initial-credentials").is_file() and
                 answers(f"{url}/api/health"), 90,
                 what="berth up to answer")
        text = (root / "data" / "initial-credentials").read_text()
        admin.login("admin@berth.local", text.split("password = ")[1].strip())
        u = Up(proc, root, url, agent_id, agent_port, admin)
        wait_for(lambda: u.agent_row().get("status") == "ALIVE" and admin.images(), 90,
                 what="the agent to register")
        yield u
    finally:
        with contextlib.suppress(Exception):
            for s in admin.list_sessions(state="running")["items"]:
                admin.terminate_session(s["id"], force=True)
        kids = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        finally:
            for pid in [proc.pid, *kids.values()]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            admin.close()
            print((root / "up.log").read_text(errors="replace")[-30000:])  # shown on failure
            run_async(_remove_containers(agent_id))
            shutil.rmtree(root, ignore_errors=True)


def test_up_restarts_a_killed_agent_and_manager(up: Up) -> None:
    [s] = up.admin.create_session(image=PYTHON_IMAGE, name="kept")
    s = wait_status(up.admin, s["id"], "RUNNING")
    cid = s["kernels"][0]["container_id"]
    before = children(up.proc.pid)
    assert set(before) == {"manager", "agent"}

    # The agent dies: the manager keeps answering, a new agent comes up and reports ALIVE.
    killed_at = datetime.now(UTC)
    os.kill(before["agent"], signal.SIGKILL)
    wait_for(lambda: children(up.proc.pid).get("agent") not in (None, before["agent"]), 30,
             what="a new agent process")
    assert up.proc.poll() is None
    assert answers(f"{up.url}/api/health")
    assert children(up.proc.pid)["manager"] == before["manager"]  # untouched
    wait_for(lambda: answers(f"http://127.0.0.1:{up.agent_port}/v1/health"), 60,
             what="the new agent to answer")
    wait_for(lambda: datetime.fromisoformat(up.agent_row()["last_heartbeat"]).replace(
        tzinfo=UTC) > killed_at and up.agent_row()["status"] == "ALIVE", 30,
             what="the new agent's heartbeat")
    assert up.admin.get_session(s["id"])["status"] == "RUNNING"
    assert inspect(cid)["State"]["Running"]  # type: ignore[index]
    wait_for(lambda: f"the agent (pid {before['agent']}) stopped with signal SIGKILL; "
             "restarting it in 1 s" in up.output(), 10, what="the log line")
    assert "restarted the agent (pid" in up.output()

    # The manager dies: it is restarted and serves again; the session is still there.
    agent_now = children(up.proc.pid)["agent"]
    os.kill(before["manager"], signal.SIGKILL)
    wait_for(lambda: children(up.proc.pid).get("manager") not in (None, before["manager"]), 30,
             what="a new manager process")
    wait_for(lambda: answers(f"{up.url}/api/health"), 60, what="the new manager to answer")
    assert children(up.proc.pid)["agent"] == agent_now  # untouched
    assert up.admin.get_session(s["id"])["status"] == "RUNNING"
    assert f"the manager (pid {before['manager']}) stopped with signal SIGKILL" in up.output()
    up.admin.terminate_session(s["id"])
    wait_status(up.admin, s["id"], "TERMINATED")


def test_up_stops_both_cleanly_on_sigterm(up: Up) -> None:
    kids = children(up.proc.pid)
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(40) == 0
    for pid in kids.values():
        assert not Path(f"/proc/{pid}").exists() or \
            (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
    assert "berth up:" not in up.output()  # nothing was restarted
