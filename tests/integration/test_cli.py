"""The ``berth`` CLI against a real cluster: what a user types and sees."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster import Cluster, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow


def berth_cli(c: Cluster, *args: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    token = c.admin.http.headers["Authorization"].split(" ", 1)[1]
    full_env = {**os.environ, "BERTH_ENDPOINT": c.url, "BERTH_API_KEY": token,
                "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def test_session_commands(berth: Cluster) -> None:
    r = berth_cli(berth, "session", "create", "-i", PYTHON_IMAGE, "-n", "cli-one", "--cpu",
                  "1", "--mem", "512m", "-e", "GREETING=hi")
    assert r.returncode == 0, r.stderr
    assert "cli-one" in r.stdout and "RUNNING" in r.stdout
    listed = json.loads(berth_cli(berth, "session", "list", "--json").stdout)
    [s] = [x for x in listed["items"] if x["name"] == "cli-one"]
    assert s["environ"]["GREETING"] == "hi" and s["requested"]["mem"] == str(512 * 2**20)
    table = berth_cli(berth, "session", "list").stdout
    assert "cli-one" in table and "RUNNING" in table
    info = json.loads(berth_cli(berth, "session", "info", "cli-one", "--json").stdout)
    assert info["id"] == s["id"] and info["history"][0]["status"] == "PENDING"
    assert "history" in berth_cli(berth, "session", "info", "cli-one").stdout
    r = berth_cli(berth, "session", "rename", "cli-one", "cli-two")
    assert r.returncode == 0 and "cli-two" in r.stdout
    r = berth_cli(berth, "session", "terminate", "cli-two")
    assert r.returncode == 0 and "TERMINATED" in r.stdout
    assert berth.admin.get_session(s["id"])["status"] == "TERMINATED"


def test_run_streams_output_and_exit_code(berth: Cluster) -> None:
    r = berth_cli(berth, "run", "-i", PYTHON_IMAGE, "--", "sh", "-c",
                  "echo from-the-kernel; echo oops >&2; exit 4")
    assert r.returncode == 4, r.stderr
    assert "from-the-kernel" in r.stdout and "oops" in r.stdout
    r = berth_cli(berth, "run", "-i", PYTHON_IMAGE, "--", "python3", "-c", "print(6*7)")
    assert r.returncode == 0 and "42" in r.stdout


def test_logs_and_follow(berth: Cluster) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE, startup_command=(
        "for i in 1 2 3; do echo tick-$i; sleep 0.5; done"))
    wait_status(berth.admin, s["id"], {"RUNNING", "TERMINATING", "TERMINATED"})
    r = berth_cli(berth, "session", "logs", s["id"], "--follow")
    assert r.returncode == 0 and "tick-3" in r.stdout
    wait_status(berth.admin, s["id"], "TERMINATED")
    r = berth_cli(berth, "session", "logs", s["id"], "--tail", "1")
    assert r.stdout.strip().endswith("tick-3")


def test_bad_input_is_a_clear_message(berth: Cluster) -> None:
    r = berth_cli(berth, "session", "create", "-i", PYTHON_IMAGE, "-n", "has space")
    assert r.returncode == 1 and "name: must not contain spaces" in r.stderr
    r = berth_cli(berth, "session", "create", "-i", PYTHON_IMAGE, "-e", "NOEQUALS")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr
    r = berth_cli(berth, "session", "info", "nothing-here")
    assert r.returncode == 1 and "404" in r.stderr
    r = berth_cli(berth, "session", "list", env={"BERTH_API_KEY": "BKX.bad"})
    assert r.returncode == 1 and "berth login" in r.stderr
    r = berth_cli(berth, "session", "list", env={"BERTH_ENDPOINT": "http://127.0.0.1:9"})
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_events_command_prints_changes(berth: Cluster) -> None:
    import queue
    import threading

    token = berth.admin.http.headers["Authorization"].split(" ", 1)[1]
    env = {**os.environ, "BERTH_ENDPOINT": berth.url, "BERTH_API_KEY": token,
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "session", "events"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in iter(out.readline, "")],
                     daemon=True).start()

    def next_line(deadline: float) -> str:
        return lines.get(timeout=max(0.1, deadline - time.monotonic()))

    try:
        deadline = time.monotonic() + 60
        while "Listening" not in next_line(deadline):
            pass
        [s] = berth.admin.create_session(image=PYTHON_IMAGE, name="watched")
        seen = []
        while not any("watched" in x and "RUNNING" in x for x in seen):
            seen.append(next_line(deadline))
        assert any("watched" in x and "PENDING" in x for x in seen), seen
    finally:
        proc.terminate()
        proc.wait(10)
    berth.admin.terminate_session(s["id"])


def test_login_saves_a_private_key_file(berth: Cluster, tmp_path: Path) -> None:
    r = berth_cli(berth, "login", "--email", "admin@berth.local", "--endpoint", berth.url,
                  env={"XDG_CONFIG_HOME": str(tmp_path), "BERTH_PASSWORD": berth.admin_password,
                       "BERTH_API_KEY": "", "BERTH_ENDPOINT": ""})
    assert r.returncode == 0, r.stderr
    path = tmp_path / "berth" / "client.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = berth_cli(berth, "image", "list", env={"XDG_CONFIG_HOME": str(tmp_path),
                                               "BERTH_API_KEY": "", "BERTH_ENDPOINT": ""})
    assert r.returncode == 0 and "Python 3.11" in r.stdout
    r = berth_cli(berth, "login", "--email", "admin@berth.local", "--endpoint", berth.url,
                  env={"XDG_CONFIG_HOME": str(tmp_path), "BERTH_PASSWORD": "wrong-one"})
    assert r.returncode == 1 and "wrong email or password" in r.stderr


def test_help_explains() -> None:
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "session", "create",
                          "--help"], capture_output=True, text=True, env={
                              **os.environ, "COLUMNS": "200"}).stdout
    for words in ("--image", "--startup-command", "--timeout", "--start-at", "--count",
                  "--threads", "interactive or batch"):
        assert words in out
