"""``--mount NAME[:PATH][:ro|rw]`` of ``berth session create`` / ``berth run``: the parser,
what the CLI sends, and refusals told as errors of --mount (never a traceback)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from berth.cli import session
from berth.cli.main import app
from berth.cli.mounts import as_mount_error, mount_lines, parse_mount, parse_mounts
from berth.client import ApiError, Client


@pytest.mark.parametrize(("value", "expected"), [
    ("data", ("data", None, None)),
    ("data:/mnt/d", ("data", "/mnt/d", None)),
    ("data:sub:ro", ("data", "sub", "ro")),
    ("data::ro", ("data", None, "ro")),
    ("data:ro", ("data", None, "ro")),
    ("data:rw", ("data", None, "rw")),
    ("data:ro:", ("data", "ro", None)),  # a relative path named "ro"
    ("data:", ("data", None, None)),
    ("ro", ("ro", None, None)),  # a folder named "ro"
    (".cache:/home/work/.c:rw", (".cache", "/home/work/.c", "rw")),
    ("4f9c2a1e-0000-4000-8000-000000000001:/x", ("4f9c2a1e-0000-4000-8000-000000000001", "/x",
                                                  None)),
])
def test_parse_mount(value: str, expected: tuple[str, str | None, str | None]) -> None:
    folder, path, mode = expected
    assert parse_mount(value) == {"folder": folder, "path": path, "mode": mode}


@pytest.mark.parametrize(("value", "says"), [
    ("", "names no folder"),
    (":/mnt/x", "names no folder"),
    ("::ro", "names no folder"),
    ("data:/x:readonly", "the mode is ro or rw, not 'readonly'"),
    ("data:/x:RO", "the mode is ro or rw, not 'RO'"),
    ("data:/a:/b:ro", "too many ':'"),
])
def test_malformed_values_name_the_option(value: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as bad:
        parse_mount(value)
    assert bad.value.param_hint == "--mount" and says in bad.value.message


def test_parse_mounts_keeps_the_order() -> None:
    assert parse_mounts(None) is None and parse_mounts([]) is None
    assert [m["folder"] for m in parse_mounts(["b", "a:x", "c::ro"]) or []] == ["b", "a", "c"]


def test_server_refusals_become_errors_of_the_value_given() -> None:
    refused = ApiError(422, [{"loc": ["body", "mounts", 1, "path"], "msg": "overlaps mounts[0]"}])
    bad = as_mount_error(refused, ["data", "models:/home/work/data/m"])
    assert bad is not None and bad.param_hint == "--mount"
    assert bad.message == "'models:/home/work/data/m': path: overlaps mounts[0]"
    too_many = ApiError(422, [{"loc": ["body", "mounts"], "msg": "at most 32 folders"}])
    assert as_mount_error(too_many, ["a"]).message == "at most 32 folders"  # type: ignore[union-attr]
    other = ApiError(422, [{"loc": ["body", "name"], "msg": "too short"}])
    assert as_mount_error(other, ["a"]) is None
    assert as_mount_error(ApiError(404, "no such image"), ["a"]) is None


def test_mount_lines() -> None:
    s = {"mounts": [{"folder_id": "f1", "folder": "data", "path": "/home/work/data",
                     "mode": "rw"},
                    {"folder_id": "f2", "folder": ".cfg", "path": "/home/work/.cfg",
                     "mode": "ro"}]}
    assert mount_lines(s) == ["data -> /home/work/data (rw)", ".cfg -> /home/work/.cfg (ro)"]
    assert mount_lines({}) == [] and mount_lines({"mounts": None}) == []


# ---- through the CLI, against a mock manager ----

def _session(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "s1", "name": "s-one", "status": "PENDING", "status_info": "", "mounts": [
        {"folder_id": "f1", "folder": m["folder"], "path": m["path"] or "/home/work/x",
         "mode": m["mode"] or "rw"} for m in body.get("mounts", [])]}


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The bodies sent to POST /api/sessions; a mount at /etc is refused as the server does."""
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        for i, m in enumerate(body.get("mounts", [])):
            if (m["path"] or "").startswith("/etc"):
                return httpx.Response(422, json={"detail": [
                    {"loc": ["body", "mounts", i, "path"], "msg": "a system path"}]})
        return httpx.Response(201, json=[_session(body)])

    def fake_client() -> Client:
        c = Client(endpoint="http://berth.test", api_key="k")
        c.http = httpx.Client(base_url="http://berth.test", transport=httpx.MockTransport(answer))
        return c

    monkeypatch.setattr(session, "client", fake_client)
    return sent


def test_create_sends_the_mounts(manager: list[dict[str, Any]]) -> None:
    r = CliRunner().invoke(app, ["session", "create", "-i", "img", "--no-wait", "--json",
                                 "--mount", "data", "-m", "models:/mnt/m:ro"])
    assert r.exit_code == 0, r.output
    assert manager[0]["mounts"] == [{"folder": "data", "path": None, "mode": None},
                                    {"folder": "models", "path": "/mnt/m", "mode": "ro"}]
    r = CliRunner().invoke(app, ["session", "create", "-i", "img", "--no-wait", "--json"])
    assert "mounts" not in manager[1]


def test_a_refused_or_malformed_mount_is_a_clear_message(manager: list[dict[str, Any]]
                                                         ) -> None:
    r = CliRunner().invoke(app, ["session", "create", "-i", "img", "--no-wait",
                                 "--mount", "data", "--mount", "cfg:/etc/x"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--mount" in r.output and "'cfg:/etc/x': path: a system path" in r.output
    r = CliRunner().invoke(app, ["session", "create", "-i", "img", "--mount", "data:/x:maybe"])
    assert r.exit_code == 2 and "--mount" in r.output and "not 'maybe'" in r.output
    assert len(manager) == 1  # the malformed value was never sent
