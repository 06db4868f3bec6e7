"""Every input limit (berth.domain.limits, docs/limits.md): accepted at the limit, a 422 naming
the field one past it, on SQLite and PostgreSQL; the body limit (413); an environment and a
startup command at their limits start a real container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from berth.domain import limits
from cluster import Cluster, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow
KiB = 1024


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cluster(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    """An agent offering the largest resources a session may ask for, so that the limits,
    not the capacity, decide (only dry runs ask for that much)."""
    c = Cluster(db=request.param, agent_env={
        "BERTH_AGENT_CPU": str(limits.CPU_MAX), "BERTH_AGENT_MEM": str(limits.MEM_MAX)}).start()
    try:
        yield c
    finally:
        c.close()


def _headers(c: Cluster) -> dict[str, str]:
    return {"Authorization": c.admin.http.headers["Authorization"]}


def dry(c: Cluster, **body: Any) -> httpx.Response:
    return httpx.post(f"{c.url}/api/sessions?dry_run=true", json={"image": PYTHON_IMAGE, **body},
                      headers=_headers(c), timeout=30)


def fields_of(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {".".join(str(p) for p in e["loc"][1:]): e["msg"] for e in r.json()["detail"]}


def soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


BATCH = {"type": "batch", "startup_command": "true"}
BIG_ENV = {f"V{i}": "x" * limits.ENV_VALUE_MAX for i in range(7)}
# (name, body at the limit, body one past it, the field the 422 names)
LIMITS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("cpu", {"resources": {"cpu": 1024}}, {"resources": {"cpu": 1024.01}}, "resources.cpu"),
    ("mem", {"resources": {"mem": "64t"}}, {"resources": {"mem": "99999999999t"}},
     "resources.mem"),
    ("mem-bytes", {"resources": {"mem": limits.MEM_MAX}},
     {"resources": {"mem": limits.MEM_MAX + 1}}, "resources.mem"),
    ("shmem", {"resources": {"mem": "64t", "shmem": "64t"}},
     {"resources": {"mem": "64t", "shmem": "65t"}}, "resources.shmem"),
    ("timeout", {**BATCH, "timeout": "365d"}, {**BATCH, "timeout": "366d"}, "timeout"),
    ("starts-at-future", {**BATCH, "starts_at": soon(364)}, {**BATCH, "starts_at": soon(366)},
     "starts_at"),
    ("starts-at-past", {**BATCH, "starts_at": soon(-0.9)}, {**BATCH, "starts_at": soon(-1.1)},
     "starts_at"),
    ("starts-at-year-1", {**BATCH, "starts_at": soon(1)},
     {**BATCH, "starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
    ("starts-at-year-9999", {**BATCH, "starts_at": soon(1)},
     {**BATCH, "starts_at": "9999-12-31T23:59:59-14:00"}, "starts_at"),
    ("startup-command", {"type": "batch", "startup_command": "#" * limits.STARTUP_COMMAND_MAX},
     {"type": "batch", "startup_command": "é" * (limits.STARTUP_COMMAND_MAX // 2 + 1)},
     "startup_command"),
    ("env-name", {"environ": {"N" * 256: "v"}}, {"environ": {"N" * 257: "v"}},
     "environ." + "N" * 257 + ".[key]"),
    ("env-value", {"environ": {"V": "é" * (limits.ENV_VALUE_MAX // 2)}},
     {"environ": {"V": "é" * (limits.ENV_VALUE_MAX // 2) + "x"}}, "environ.V"),
    ("env-count", {"environ": {f"V{i}": "x" for i in range(256)}},
     {"environ": {f"V{i}": "x" for i in range(257)}}, "environ"),
    ("env-total", {"environ": BIG_ENV}, {"environ": {**BIG_ENV, "V7": "x" * 32 * KiB}},
     "environ"),
    ("count", {"name": "many", "count": 20}, {"name": "many", "count": 21}, "count"),
    ("threads", {"threads": 1000}, {"threads": 1001}, "threads"),
    ("preopen-ports", {"preopen_ports": list(range(9000, 9010))},
     {"preopen_ports": list(range(9000, 9011))}, "preopen_ports"),
    ("port", {"preopen_ports": [65535]}, {"preopen_ports": [65536]}, "preopen_ports.0"),
    ("name", {"name": "n" * 64}, {"name": "n" * 65}, "name"),
    ("image", {}, {"image": "i" * 257}, "image"),
    ("group", {}, {"resource_group": "g" * 65}, "resource_group"),
    ("agent", {}, {"agent": "a" * 65}, "agent"),
    ("owner", {}, {"owner_email": "e" * 255}, "owner_email"),
    ("slot", {"resources": {"cpu": 1}}, {"resources": {"cpu": 1, "gpu": 1}}, "resources.gpu"),
]


@pytest.mark.parametrize(("body_ok", "body_bad", "field"), [x[1:] for x in LIMITS],
                         ids=[x[0] for x in LIMITS])
def test_limit_accepted_at_and_refused_past(berth: Cluster, body_ok: dict[str, Any],
                                           body_bad: dict[str, Any], field: str) -> None:
    ok = dry(berth, **body_ok)
    assert ok.status_code == 200, ok.text[:2000]
    assert field in fields_of(dry(berth, **body_bad))


def test_every_error_of_a_request_comes_in_one_answer(berth: Cluster) -> None:
    r = dry(berth, name="x", resources={"cpu": 1, "mem": "99999999999t", "gpu": 1},
            environ={"1BAD": "v"}, timeout="5m")
    assert fields_of(r) == {
        "name": "must be 4 to 64 characters long",
        "timeout": "only batch sessions take this option",
        "environ.1BAD": "variable name must start with a letter or '_' and contain only "
        "letters, digits and '_'",
        "resources.gpu": "unknown resource slot; known slots: cpu, mem, shmem",
        "resources.mem": "must be at most 64t",
    }


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"image": "x", "resources": {"cpu": NaN}}', "resources.cpu"),
    (b'{"image": "x", "resources": {"cpu": Infinity}}', "resources.cpu"),
    (b'{"image": "x", "resources": {"cpu": 1e400}}', "resources.cpu"),
    (b'{"image": "x", "resources": {"mem": 1' + b"0" * 100 + b"}}", "resources.mem"),
    (b'{"image": "x", "count": 1' + b"0" * 100 + b"}", "count"),
    (b'{"image": "x", "type": "batch", "startup_command": "true", "starts_at": 1e30}',
     "starts_at"),
])
def test_numbers_json_can_carry_but_nothing_can_hold(berth: Cluster, raw: bytes,
                                                    field: str) -> None:
    r = httpx.post(f"{berth.url}/api/sessions?dry_run=true", content=raw,
                   headers={**_headers(berth), "Content-Type": "application/json"})
    assert field in fields_of(r)


@pytest.mark.parametrize(("path", "ok", "bad", "field"), [
    ("/api/sessions", {"limit": 200}, {"limit": 201}, "limit"),
    ("/api/sessions", {"offset": 1_000_000}, {"offset": 1_000_001}, "offset"),
    ("/api/sessions", {"name": "n" * 64}, {"name": "n" * 65}, "name"),
])
def test_query_limits(berth: Cluster, path: str, ok: dict[str, Any], bad: dict[str, Any],
                      field: str) -> None:
    assert httpx.get(f"{berth.url}{path}", params=ok, headers=_headers(berth)).status_code == 200
    r = httpx.get(f"{berth.url}{path}", params=bad, headers=_headers(berth))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field]


def test_other_bodies_are_bounded(berth: Cluster) -> None:
    h = _headers(berth)
    r = httpx.post(f"{berth.url}/api/sessions/terminate", headers=h,
                   json={"ids": ["x" * 64] * 500})
    assert r.status_code == 202
    assert "ids" in fields_of(httpx.post(f"{berth.url}/api/sessions/terminate", headers=h,
                                         json={"ids": ["x"] * 501}))
    assert "ids.0" in fields_of(httpx.post(f"{berth.url}/api/sessions/terminate", headers=h,
                                           json={"ids": ["x" * 65]}))
    r = httpx.post(f"{berth.url}/api/sessions/nope/apps/jupyter/open", headers=h,
                   json={"allowed_ips": ["1" * 65]})
    assert "allowed_ips.0" in fields_of(r)


def test_request_body_limit(berth: Cluster) -> None:
    """1 MiB is accepted (padded JSON of a valid request); one byte more is a 413 that says
    the limit, whether the size is declared or the body is streamed."""
    h = {**_headers(berth), "Content-Type": "application/json"}
    body = json.dumps({"image": PYTHON_IMAGE}).encode()
    at_limit = body[:-1] + b" " * (limits.BODY_MAX - len(body)) + b"}"
    assert len(at_limit) == limits.BODY_MAX
    url = f"{berth.url}/api/sessions?dry_run=true"
    assert httpx.post(url, content=at_limit, headers=h).status_code == 200
    over = at_limit + b" "
    r = httpx.post(url, content=over, headers=h)
    assert r.status_code == 413
    assert r.json()["detail"] == ("the request body is larger than the limit of 1 MiB "
                                  "(1048576 bytes)")

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(over), 64 * KiB):
            yield over[i:i + 64 * KiB]

    streamed = httpx.post(url, content=chunks(), headers=h)  # no Content-Length
    assert streamed.status_code == 413 and "1 MiB" in streamed.json()["detail"]


def test_limits_are_in_the_openapi_schema(berth: Cluster) -> None:
    schemas = httpx.get(f"{berth.url}/api/openapi.json").json()["components"]["schemas"]
    create = schemas["SessionCreate"]["properties"]
    assert create["environ"]["maxProperties"] == limits.ENV_COUNT_MAX
    assert create["count"]["maximum"] == limits.SESSIONS_PER_REQUEST_MAX
    assert create["startup_command"]["anyOf"][0]["maxLength"] == limits.STARTUP_COMMAND_MAX
    resources = schemas["ResourcesIn"]["properties"]
    assert resources["cpu"]["anyOf"][0]["maximum"] == limits.CPU_MAX
    assert resources["mem"]["maximum"] == limits.MEM_MAX


def test_cli_shows_a_server_refusal_on_one_line(berth: Cluster) -> None:
    env = {**os.environ, "BERTH_ENDPOINT": berth.url,
           "BERTH_API_KEY": berth.admin.http.headers["Authorization"].removeprefix("Bearer ")}
    r = subprocess.run([sys.executable, "-m", "berth.cli.main", "session", "create", "-i",
                        PYTHON_IMAGE, "--threads", "5000", "-e", "1BAD=x"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "Error: threads: Input should be less than or equal to 1000"]


def test_environment_and_command_at_their_limits_start_a_real_container(berth: Cluster) -> None:
    """256 variables, 7 of them 32 KiB, a 256-character name, within 256 KiB in all, and a
    64 KiB startup command: the kernel's execve takes them and the command sees them all."""
    environ = {f"V{i:03d}": "x" for i in range(limits.ENV_COUNT_MAX - 1)}
    for i in range(7):
        environ[f"V{i:03d}"] = "é" * (limits.ENV_VALUE_MAX // 2)
    environ["N" * limits.ENV_NAME_MAX] = "long-name"
    script = ("import os; e = os.environ; print(sum(k[:1] == 'V' and k[1:].isdigit() for k in e), "
              "len(e['V000'].encode()), e['N' * 256])")
    command = f'python -c "{script}" #'
    command += "#" * (limits.STARTUP_COMMAND_MAX - len(command.encode()))
    assert len(command.encode()) == limits.STARTUP_COMMAND_MAX
    [s] = berth.admin.create_session(image=PYTHON_IMAGE, type="batch", environ=environ,
                                     startup_command=command, resources={"cpu": 1})
    done = wait_status(berth.admin, s["id"], {"TERMINATED", "ERROR"}, timeout=120)
    assert (done["status"], done["exit_code"]) == ("TERMINATED", 0), done
    logs = b"".join(berth.admin.logs(s["id"])).decode()
    assert logs.strip() == f"{limits.ENV_COUNT_MAX - 1} {limits.ENV_VALUE_MAX} long-name"
