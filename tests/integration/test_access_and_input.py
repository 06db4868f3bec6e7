"""Accounts and permissions, and bad input: clear 4xx errors naming the field and the rule,
with nothing half-created."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from berth.client import ApiError, Client
from cluster import Cluster, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow


def _refused(call: Any, status: int) -> ApiError:
    with pytest.raises(ApiError) as e:
        call()
    assert e.value.status == status, e.value
    return e.value


def test_login_keys_and_roles(berth: Cluster) -> None:
    anonymous = berth.client()
    assert _refused(lambda: anonymous.list_sessions(), 401)
    assert _refused(lambda: anonymous.login("admin@berth.local", "wrong-password"), 401)
    assert _refused(lambda: anonymous.login("nobody@example.com", "whatever1"), 401)
    alice = berth.user()
    assert alice.request("GET", "/api/users/me")["role"] == "user"
    key = alice.request("POST", "/api/keys", json={"label": "ci"})
    assert key["token"].startswith(key["access_key"] + ".")
    with_key = berth.client(key["token"])
    assert with_key.request("GET", "/api/users/me")["email"] == alice.email  # type: ignore
    assert key["access_key"] in [k["access_key"] for k in alice.request("GET", "/api/keys")]
    alice.request("DELETE", f"/api/keys/{key['access_key']}")
    assert _refused(lambda: with_key.request("GET", "/api/users/me"), 401)
    assert _refused(lambda: berth.client("BKNOPE.secret").list_sessions(), 401)
    # Only admins create users; only superadmins create admins.
    assert _refused(lambda: alice.request("POST", "/api/users", json={
        "email": "x@example.com", "password": "long-enough"}), 403)
    admin = berth.user(role="admin")
    assert _refused(lambda: admin.request("POST", "/api/users", json={
        "email": "y@example.com", "password": "long-enough", "role": "admin"}), 403)
    assert _refused(lambda: berth.admin.request("POST", "/api/users", json={
        "email": alice.email, "password": "long-enough"}), 409)  # type: ignore[attr-defined]
    bad = _refused(lambda: berth.admin.request("POST", "/api/users", json={
        "email": "not-an-email", "password": "short"}), 422)
    assert {"email", "password"} <= set(bad.fields)


def test_users_see_and_touch_only_their_sessions(berth: Cluster) -> None:
    alice, bob = berth.user(), berth.user()
    [mine] = alice.create_session(image=PYTHON_IMAGE, name="alice-s")
    wait_status(alice, mine["id"], "RUNNING")
    for call in (lambda: bob.get_session(mine["id"]), lambda: bob.get_session("alice-s"),
                 lambda: bob.terminate_session(mine["id"]),
                 lambda: bob.rename_session(mine["id"], "stolen"),
                 lambda: b"".join(bob.logs(mine["id"]))):
        error = _refused(call, 404)
        assert alice.email not in str(error) and "RUNNING" not in str(error)  # type: ignore
    assert bob.list_sessions(state="all")["total"] == 0
    assert [s["id"] for s in alice.list_sessions()["items"]] == [mine["id"]]
    everyone = berth.admin.list_sessions(state="all", limit=200)["items"]
    assert mine["id"] in [s["id"] for s in everyone]  # the superadmin sees all
    assert alice.get_session(mine["id"])["status"] == "RUNNING"  # nothing happened to it


def test_admin_creates_session_for_a_user(berth: Cluster) -> None:
    user = berth.user()
    admin = berth.user(role="admin")
    [s] = admin.create_session(image=PYTHON_IMAGE, owner_email=user.email)  # type: ignore
    assert s["owner_email"] == user.email and s["creator_id"] != s["owner_id"]  # type: ignore
    assert user.get_session(s["id"])["id"] == s["id"]
    assert admin.get_session(s["id"])["id"] == s["id"]
    error = _refused(lambda: user.create_session(image=PYTHON_IMAGE,
                                                 owner_email="admin@berth.local"), 403)
    assert "admin" in str(error)
    bad = _refused(lambda: admin.create_session(image=PYTHON_IMAGE,
                                                owner_email="ghost@example.com"), 422)
    assert "owner_email" in bad.fields


BAD_CREATES: list[tuple[dict[str, Any], str, str]] = [
    ({"image": "no/such:image"}, "image", "unknown image"),
    ({"image": PYTHON_IMAGE, "name": "ab"}, "name", "4 to 64"),
    ({"image": PYTHON_IMAGE, "name": "has space"}, "name", "spaces"),
    ({"image": PYTHON_IMAGE, "name": "-dash"}, "name", "start and end"),
    ({"image": PYTHON_IMAGE, "environ": {"1BAD": "x"}}, "environ.1BAD", "variable name"),
    ({"image": PYTHON_IMAGE, "environ": {"EMPTY": ""}}, "environ.EMPTY", "value is required"),
    ({"image": PYTHON_IMAGE, "resources": {"cpu": 64}}, "resources.cpu", "capacity"),
    ({"image": PYTHON_IMAGE, "resources": {"mem": "64g"}}, "resources.mem", "capacity"),
    ({"image": PYTHON_IMAGE, "resources": {"mem": "1g", "shmem": "2g"}}, "resources.shmem",
     "larger than memory"),
    ({"image": PYTHON_IMAGE, "resources": {"mem": "lots"}}, "resources.mem", "size"),
    ({"image": PYTHON_IMAGE, "resources": {"cpu": 0.5}}, "resources.cpu", "at least"),
    ({"image": PYTHON_IMAGE, "type": "batch"}, "startup_command", "needs a startup command"),
    ({"image": PYTHON_IMAGE, "timeout": "5m"}, "timeout", "only batch"),
    ({"image": PYTHON_IMAGE, "type": "batch", "startup_command": "true", "timeout": "5x"},
     "timeout", "unit"),
    ({"image": PYTHON_IMAGE, "type": "batch", "startup_command": "true",
      "starts_at": "2030-01-01T00:00:00"}, "starts_at", "timezone"),
    ({"image": PYTHON_IMAGE, "threads": 0}, "threads", "greater than or equal to 1"),
    ({"image": PYTHON_IMAGE, "preopen_ports": [80]}, "preopen_ports.0", "greater than or equal"),
    ({"image": PYTHON_IMAGE, "preopen_ports": [8888]}, "preopen_ports", "reserved"),
    ({"image": PYTHON_IMAGE, "count": 0}, "count", "greater than or equal"),
    ({"image": PYTHON_IMAGE, "type": "sometimes"}, "type", "interactive"),
    ({"image": PYTHON_IMAGE, "bogus": 1}, "bogus", "not permitted"),
    ({"image": PYTHON_IMAGE, "agent": "nowhere"}, "agent", "no agent"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD_CREATES,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_CREATES)])
def test_bad_create_names_field_and_rule(berth: Cluster, body: dict[str, Any], field: str,
                                         words: str) -> None:
    before = berth.admin.list_sessions(state="all")["total"]
    error = _refused(lambda: berth.admin.create_session(**body), 422)
    assert field in error.fields, error.fields
    assert words in error.fields[field], error.fields
    assert berth.admin.list_sessions(state="all")["total"] == before


def test_duplicate_names_and_half_created_batches(berth: Cluster) -> None:
    [s] = berth.admin.create_session(image=PYTHON_IMAGE, name="unique-one")
    before = berth.admin.list_sessions(state="all")["total"]
    # A name in use is a field error like any other, reported with the others at once.
    taken = _refused(lambda: berth.admin.create_session(
        image=PYTHON_IMAGE, name="unique-one", resources={"mem": "1g", "shmem": "2g"}), 422)
    assert taken.fields == {
        "name": "another active session is already named 'unique-one'",
        "resources.shmem": "must not be larger than memory"}
    # count=3 where the last name would be taken: nothing of the three is created.
    berth.admin.create_session(image=PYTHON_IMAGE, name="trio-3")
    trio = _refused(lambda: berth.admin.create_session(image=PYTHON_IMAGE, name="trio", count=3),
                    422)
    assert trio.fields == {"name": "another active session is already named 'trio-3'"}
    assert berth.admin.list_sessions(state="all")["total"] == before + 1
    berth.admin.terminate_session(s["id"], force=True)
    wait_status(berth.admin, s["id"], {"TERMINATED", "CANCELLED"})
    [again] = berth.admin.create_session(image=PYTHON_IMAGE, name="unique-one")
    assert again["name"] == "unique-one"


def test_unknown_session_and_raw_bad_requests(berth: Cluster) -> None:
    assert _refused(lambda: berth.admin.get_session("no-such-session"), 404)
    token = berth.admin.http.headers["Authorization"]
    r = httpx.post(f"{berth.url}/api/sessions", content=b"{not json",
                   headers={"Authorization": token, "Content-Type": "application/json"})
    assert r.status_code == 422
    r = httpx.get(f"{berth.url}/api/sessions?limit=100000", headers={"Authorization": token})
    assert r.status_code == 422 and "limit" in r.text
    r = httpx.post(f"{berth.url}/api/agent/v1/heartbeat", json={})
    assert r.status_code == 401


def test_text_a_database_cannot_store_is_refused_by_field(berth: Cluster) -> None:
    """NUL characters (PostgreSQL refuses them) and unpaired surrogates (valid JSON, not UTF-8)
    get a 422 naming where they were, in a body, a path or a query, never a 500."""
    token = {"Authorization": berth.admin.http.headers["Authorization"],
             "Content-Type": "application/json"}
    for raw, field in ((b'{"email": "a\\u0000@b", "password": "x"}', "email"),
                       (b'{"email": "a\\ud800@b", "password": "x"}', "email")):
        r = httpx.post(f"{berth.url}/api/auth/login", content=raw, headers=token)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == field
    r = httpx.post(f"{berth.url}/api/sessions", headers=token,
                   content=b'{"image": "x", "environ": {"\\udc00": "v"}}')
    assert r.status_code == 422 and "environ" in r.text
    body = {"image": PYTHON_IMAGE, "environ": {"A": "x\x00y"}}
    r = httpx.post(f"{berth.url}/api/sessions", json=body, headers=token)
    assert r.status_code == 422 and "environ" in r.text and "NUL" in r.text
    r = httpx.get(f"{berth.url}/api/sessions/ab%00cd", headers=token)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path"]
    r = httpx.get(f"{berth.url}/api/sessions?name=a%00b", headers=token)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query"]
    r = httpx.get(f"{berth.url}/api/sessions?name=a%ffb", headers=token)
    assert r.status_code == 422
    assert httpx.get(f"{berth.url}/api/sessions?name=caf%C3%A9", headers=token).status_code == 200


def test_client_reports_connection_problems() -> None:
    c = Client(endpoint="http://127.0.0.1:9", api_key="x")
    with pytest.raises(httpx.ConnectError):
        c.list_sessions()


def test_browser_session_cannot_be_used_from_another_origin(berth: Cluster) -> None:
    """The login cookie is HttpOnly and SameSite=Strict (a browser never sends it from another
    site), and the API grants no cross-origin access (no CORS headers, preflights refused)."""
    r = httpx.post(f"{berth.url}/api/auth/login",
                   json={"email": "admin@berth.local", "password": berth.admin_password})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    evil = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    preflight = httpx.options(f"{berth.url}/api/sessions", headers=evil)
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers
    cross = httpx.get(f"{berth.url}/api/sessions", headers={"Origin": "http://evil.example"},
                      cookies={"berth_login": r.cookies["berth_login"]})
    assert "access-control-allow-origin" not in cross.headers
    anonymous = httpx.get(f"{berth.url}/api/sessions", headers={"Origin": "http://evil.example"})
    assert anonymous.status_code == 401
