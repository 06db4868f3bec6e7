"""``berth admin ...`` and ``berth resources ...`` against a real cluster: an admin sets up a
project, a group, a preset and a policy as docs/admin.md shows; a user sees what they may use,
launches into their project, and is told every limit a request breaks."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cluster import Cluster

pytestmark = pytest.mark.slow


def cli(c: Cluster, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    token = token or c.admin.http.headers["Authorization"].split(" ", 1)[1]
    env = {**os.environ, "BERTH_ENDPOINT": c.url, "BERTH_API_KEY": token, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def as_json(r: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(r))


def test_an_admin_sets_up_and_a_user_launches(berth: Cluster) -> None:
    tag = secrets.token_hex(3)
    project, group, preset, policy = f"ml-{tag}", f"gpu-{tag}", f"small-{tag}", f"team-{tag}"
    user = berth.user()
    email = user.email  # type: ignore[attr-defined]
    token = user.http.headers["Authorization"].split(" ", 1)[1]
    ok(cli(berth, "admin", "policy", "create", policy, "--cpu", "2", "--mem", "4g",
           "--max-pending", "1", "--max-lifetime", "8h", "--max-folders", "5"))
    ok(cli(berth, "admin", "project", "create", project, "--description", "ML team",
           "--policy", policy))
    ok(cli(berth, "admin", "project", "add-member", project, email))
    ok(cli(berth, "admin", "group", "create", group, "--scheduler", "drf", "--types", "batch",
           "--pending-timeout", "30m", "--project", project, "--sudo"))
    ok(cli(berth, "admin", "preset", "create", preset, "--cpu", "1", "--mem", "2g",
           "--group", group))
    ok(cli(berth, "admin", "user", "set-policy", email, policy))
    # What the admin sees.
    [p] = [x for x in as_json(cli(berth, "admin", "policy", "list", "--json"))
           if x["name"] == policy]
    assert (p["total_slots"]["cpu"], p["max_session_lifetime"], p["users"], p["projects"]) == (
        "2", 8 * 3600, 1, 1)
    [g] = [x for x in as_json(cli(berth, "admin", "group", "list", "--json"))
           if x["name"] == group]
    assert (g["scheduler"], g["allowed_session_types"], g["pending_timeout"], g["projects"],
            g["allow_sudo"]) == ("drf", ["batch"], 1800, [project], True)
    assert group in ok(cli(berth, "admin", "group", "list"))
    looked = as_json(cli(berth, "admin", "user", "lookup", email, "--json"))
    assert group in looked["resource_groups"] and looked["resource_policy"] == policy
    # What the user sees and may do.
    assert group in {x["name"] for x in as_json(cli(berth, "resources", "groups", "--json",
                                                    token=token))}
    assert project in {x["name"] for x in as_json(cli(berth, "resources", "projects", "--json",
                                                      token=token))}
    assert preset in {x["name"] for x in as_json(cli(berth, "resources", "presets", "--group",
                                                     group, "--json", token=token))}
    check = as_json(cli(berth, "resources", "check", "--project", project, "--json",
                        token=token))
    assert check["project"] == project and check["scopes"]["user"]["name"] == policy
    table = ok(cli(berth, "resources", "check", "--project", project, token=token))
    assert policy in table and "can start now" not in table  # no preset in 'default'
    r = cli(berth, "admin", "group", "create", f"x-{tag}", token=token)
    assert r.returncode == 1 and "403" in r.stderr
    # Launching into the project; every broken limit told, one line per field.
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    made = as_json(cli(berth, "session", "create", "-i", "berth/python:3.11", "-t", "batch",
                       "-c", "true", "--start-at", later, "--priority", "5", "--project",
                       project, "--json", token=token))
    assert (made[0]["project"], made[0]["priority"], made[0]["status"]) == (project, 5,
                                                                             "PENDING")
    r = cli(berth, "session", "create", "-i", "berth/python:3.11", "-t", "batch", "-c", "true",
            "--start-at", later, "--cpu", "3", "--timeout", "9h", "--priority", "50",
            "--project", project, token=token)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert any("resources.cpu" in x and f"user policy '{policy}' allows 2 cores" in x
               and f"project policy '{policy}' allows 2 cores" in x for x in lines), lines
    assert any(x.startswith("Error: count:") and "pending" in x for x in lines), lines
    assert any(x.startswith("Error: timeout:") for x in lines), lines
    assert any(x.startswith("Error: priority:") for x in lines), lines
    # Changing and clearing a limit; deleting what is unused.
    ok(cli(berth, "admin", "policy", "update", policy, "--clear", "max_pending_sessions"))
    [p] = [x for x in as_json(cli(berth, "admin", "policy", "list", "--json"))
           if x["name"] == policy]
    assert p["max_pending_sessions"] is None and p["max_folders"] == 5
    ok(cli(berth, "admin", "agent", "update", berth.agent_id, "--unschedulable"))
    agents = as_json(cli(berth, "admin", "agent", "list", "--json"))
    assert [a["schedulable"] for a in agents if a["id"] == berth.agent_id] == [False]
    ok(cli(berth, "admin", "agent", "update", berth.agent_id, "--schedulable"))
    presets = as_json(cli(berth, "admin", "preset", "list", "--group", group, "--json"))
    [pr] = [x for x in presets if x["name"] == preset]
    ok(cli(berth, "admin", "preset", "delete", pr["id"]))
    ok(cli(berth, "admin", "group", "delete", group))
    ok(cli(berth, "admin", "user", "set-policy", email, "none"))
    ok(cli(berth, "admin", "project", "update", project, "--no-policy", "--inactive"))
    ok(cli(berth, "admin", "project", "remove-member", project, email))
    ok(cli(berth, "admin", "policy", "delete", policy))
    r = cli(berth, "admin", "project", "delete", project)
    assert r.returncode == 1 and "409" in r.stderr  # its (cancelled) session keeps it
