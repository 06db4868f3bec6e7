"""Browser logins (server-side, in the ``berth_login`` cookie), API keys only in headers, and
no cross-site request forgery; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster import Cluster

pytestmark = pytest.mark.slow


def sql(cluster: Cluster, statement: str, **params: Any) -> list[Any]:
    return cluster.sql(statement, **params)


class Browser:
    """A cookie jar with a browser's manners: it says where its requests come from."""

    def __init__(self, cluster: Cluster, agent: str = "TestBrowser/1.0") -> None:
        self.url = cluster.url
        self.http = httpx.Client(base_url=cluster.url, timeout=30, headers={
            "User-Agent": agent, "Origin": cluster.url})

    def login(self, email: str, password: str) -> httpx.Response:
        r = self.http.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return r

    @property
    def cookie(self) -> str:
        return self.http.cookies["berth_login"]

    def me(self) -> int:
        return self.http.get("/api/users/me").status_code


def account(cluster: Cluster) -> tuple[str, str]:
    email = f"l-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    cluster.admin.request("POST", "/api/users", json={"email": email, "password": password})
    return email, password


def test_browser_login_is_a_server_side_login_not_an_api_key(berth: Cluster) -> None:
    email, password = account(berth)
    b = Browser(berth)
    r = b.login(email, password)
    body = r.json()
    assert body["user"]["email"] == email and "token" not in body
    assert "BK" not in r.text  # no API key anywhere in the answer
    set_cookie = r.headers["set-cookie"]
    low = set_cookie.lower()
    assert set_cookie.startswith("berth_login=") and "httponly" in low
    assert "samesite=strict" in low and "path=/" in low and "max-age=604800" in low
    login_id, _, secret = b.cookie.partition(".")
    assert login_id == body["login"]["id"] and len(secret) >= 40
    # Only the secret's SHA-256 is stored.
    [(stored,)] = sql(berth, "SELECT secret_hash FROM logins WHERE id = :id", id=login_id)
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert b.me() == 200
    # A wrong secret for a real id, or garbage, is no login.
    for forged in (f"{login_id}.{secrets.token_urlsafe(32)}", "nonsense", f"{login_id}."):
        assert httpx.get(f"{berth.url}/api/users/me",
                         cookies={"berth_login": forged}).status_code == 401


def test_api_keys_only_in_the_authorization_header(berth: Cluster) -> None:
    email, password = account(berth)
    r = httpx.post(f"{berth.url}/api/auth/token",
                   json={"email": email, "password": password, "label": "laptop"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert r.json()["user"]["email"] == email and "set-cookie" not in r.headers
    me = f"{berth.url}/api/users/me"
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # The old cookie, or an API key in the login cookie, is not accepted.
    for name in ("berth_token", "berth_login"):
        assert httpx.get(me, cookies={name: token}).status_code == 401
    keys = httpx.get(f"{berth.url}/api/keys", headers={"Authorization": f"Bearer {token}"})
    assert "laptop" in [k["label"] for k in keys.json()]
    wrong = httpx.post(f"{berth.url}/api/auth/token", json={"email": email, "password": "nope"})
    assert wrong.status_code == 401
    # A request with an Authorization header is judged by it alone, never by a cookie.
    b = Browser(berth)
    b.login(email, password)
    assert b.http.get("/api/users/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_logins_are_listed_and_revocable_by_their_user_only(berth: Cluster) -> None:
    email, password = account(berth)
    first, second = Browser(berth, "FirstBrowser/1"), Browser(berth, "SecondBrowser/2")
    first.login(email, password)
    second.login(email, password)
    listed = first.http.get("/api/logins").json()
    by_agent = {item["user_agent"]: item for item in listed}
    assert set(by_agent) == {"FirstBrowser/1", "SecondBrowser/2"}
    assert by_agent["FirstBrowser/1"]["current"] and not by_agent["SecondBrowser/2"]["current"]
    assert by_agent["FirstBrowser/1"]["client_ip"] == "127.0.0.1"
    item = by_agent["SecondBrowser/2"]
    created = datetime.fromisoformat(item["created_at"])
    assert datetime.fromisoformat(item["expires_at"]) - created == timedelta(days=7)
    # Another user neither sees nor revokes them.
    other_email, other_password = account(berth)
    other = Browser(berth)
    other.login(other_email, other_password)
    assert [i["user_agent"] for i in other.http.get("/api/logins").json()] == ["TestBrowser/1.0"]
    assert other.http.delete(f"/api/logins/{item['id']}").status_code == 404
    assert second.me() == 200
    assert first.http.delete(f"/api/logins/{item['id']}").status_code == 204
    assert second.me() == 401 and first.me() == 200
    assert first.http.delete(f"/api/logins/{item['id']}").status_code == 404
    assert [i["user_agent"] for i in first.http.get("/api/logins").json()] == ["FirstBrowser/1"]
    # The CLI lists them with an API key too.
    key = berth.client()
    key.login(email, password)
    assert [i["user_agent"] for i in key.logins()] == ["FirstBrowser/1"]


def test_logout_ends_the_login_for_good(berth: Cluster) -> None:
    email, password = account(berth)
    b = Browser(berth)
    b.login(email, password)
    cookie = b.cookie
    r = b.http.post("/api/auth/logout")
    assert r.status_code == 204
    assert 'berth_login=""' in r.headers["set-cookie"] or "max-age=0" in \
        r.headers["set-cookie"].lower()
    replay = httpx.get(f"{berth.url}/api/users/me", cookies={"berth_login": cookie})
    assert replay.status_code == 401
    assert sql(berth, "SELECT id FROM logins WHERE id = :id", id=cookie.split(".")[0]) == []


def test_an_expired_login_is_refused_and_not_listed(berth: Cluster) -> None:
    email, password = account(berth)
    old, fresh = Browser(berth, "Old/1"), Browser(berth, "Fresh/1")
    old.login(email, password)
    fresh.login(email, password)
    past = datetime.now(UTC) - timedelta(seconds=1)
    sql(berth, "UPDATE logins SET expires_at = :t WHERE id = :id", t=past,
        id=old.cookie.split(".")[0])
    assert old.me() == 401 and fresh.me() == 200
    assert [i["user_agent"] for i in fresh.http.get("/api/logins").json()] == ["Fresh/1"]
    # The next login of the user clears expired rows.
    Browser(berth).login(email, password)
    assert sql(berth, "SELECT id FROM logins WHERE id = :id", id=old.cookie.split(".")[0]) == []


def test_last_use_is_recorded_at_most_once_a_minute(berth: Cluster) -> None:
    email, password = account(berth)
    b = Browser(berth)
    b.login(email, password)
    login_id = b.cookie.split(".")[0]
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    sql(berth, "UPDATE logins SET last_used_at = :t WHERE id = :id", t=two_minutes_ago,
        id=login_id)
    assert b.me() == 200
    [(first_use,)] = sql(berth, "SELECT last_used_at FROM logins WHERE id = :id", id=login_id)
    first = first_use if isinstance(first_use, datetime) else datetime.fromisoformat(first_use)
    assert first.replace(tzinfo=UTC) > two_minutes_ago + timedelta(minutes=1)
    assert b.me() == 200
    [(second_use,)] = sql(berth, "SELECT last_used_at FROM logins WHERE id = :id", id=login_id)
    assert second_use == first_use  # within the minute: not written again


def test_cookie_state_changes_need_the_managers_own_origin(berth: Cluster) -> None:
    email, password = account(berth)
    b = Browser(berth)
    b.login(email, password)
    app_port = f"http://127.0.0.1:{berth.proxy_pool.start}"
    calls = [("POST", "/api/sessions", {"image": "berth/python:3.11"}),
             ("POST", "/api/sessions/nope/terminate", {"force": True}),
             ("PATCH", "/api/sessions/nope", {"name": "x"}),
             ("DELETE", "/api/keys/BKNOPE", None),
             ("POST", "/api/auth/logout", None)]
    for method, path, body in calls:
        for headers in ({"Origin": app_port}, {"Origin": "null"},
                        {"Origin": berth.url.replace("http:", "https:")}):
            r = b.http.request(method, path, json=body, headers=headers)
            assert r.status_code == 403, (method, path, headers, r.text)
        r = b.http.request(method, path, json=body, headers={"Origin": ""})
        assert r.status_code == 403  # an empty Origin
    assert b.me() == 200 and b.http.get("/api/sessions").json()["total"] == 0
    # Without Origin, Sec-Fetch-Site decides; same origin passes the guard (404: no session).
    no_origin = httpx.Client(base_url=berth.url, cookies={"berth_login": b.cookie})
    assert no_origin.post("/api/sessions/nope/terminate", json={}).status_code == 403
    r = no_origin.post("/api/sessions/nope/terminate", json={},
                       headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
    r = no_origin.post("/api/sessions/nope/terminate", json={},
                       headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 404
    assert b.http.post("/api/sessions/nope/terminate", json={}).status_code == 404
    # An API key is unaffected by Origin.
    token = berth.admin.http.headers["Authorization"]
    r = httpx.post(f"{berth.url}/api/sessions/nope/terminate", json={},
                   headers={"Authorization": token, "Origin": app_port})
    assert r.status_code == 404
    # A cross-origin login is refused too (no login forced on a visitor).
    r = httpx.post(f"{berth.url}/api/auth/login", json={"email": email, "password": password},
                   headers={"Origin": app_port})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_cli_login_gets_a_key_and_logins_are_listed_and_revoked(berth: Cluster,
                                                                 tmp_path: Path) -> None:
    email, password = account(berth)
    b = Browser(berth, "CliVictim/1")
    b.login(email, password)
    env = {**os.environ, "BERTH_ENDPOINT": berth.url, "BERTH_PASSWORD": password,
           "XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("BERTH_API_KEY", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=60)
    r = cli("login", "--email", email)
    assert r.returncode == 0, r.stderr
    saved = (tmp_path / "berth" / "client.toml").read_text()
    assert re.search(r'api_key = "BK[0-9A-F]{18}\.', saved)
    r = cli("logins", "list", "--json")
    assert r.returncode == 0, r.stderr
    [listed] = json.loads(r.stdout)
    assert listed["user_agent"] == "CliVictim/1" and listed["id"] == b.cookie.split(".")[0]
    assert "CliVictim/1" in cli("logins", "list").stdout
    r = cli("logins", "revoke", listed["id"])
    assert r.returncode == 0 and listed["id"] in r.stdout
    assert b.me() == 401
    r = cli("logins", "revoke", listed["id"])
    assert r.returncode == 1 and "Traceback" not in r.stderr and "404" in r.stderr
    assert "No browser logins" in cli("logins", "list").stdout
