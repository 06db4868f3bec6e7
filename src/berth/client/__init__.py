"""Berth's Python SDK: ``Client`` (sync) and ``AsyncClient`` over the REST API.

Configuration: explicit arguments, else ``BERTH_ENDPOINT`` / ``BERTH_API_KEY``, else the file
``berth login`` writes (``~/.config/berth/client.toml``, mode 0600).

    from berth.client import Client
    with Client() as berth:
        [s] = berth.create_session(image="berth/python:3.11", type="batch",
                                   startup_command="python -c 'print(42)'")
        berth.wait(s["id"])
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from berth.files import write_private

ENDED = {"TERMINATED", "CANCELLED", "ERROR"}
DEFAULT_ENDPOINT = "http://127.0.0.1:8090"


def config_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "berth" / "client.toml"


def load_config() -> dict[str, str]:
    path = config_path()
    data = tomllib.loads(path.read_text()) if path.is_file() else {}
    return {
        "endpoint": os.environ.get("BERTH_ENDPOINT") or data.get("endpoint") or DEFAULT_ENDPOINT,
        "api_key": os.environ.get("BERTH_API_KEY") or data.get("api_key") or "",
    }


def save_config(endpoint: str, api_key: str) -> Path:
    text = f"endpoint = {json.dumps(endpoint)}\napi_key = {json.dumps(api_key)}\n"
    return write_private(config_path(), text)


class ApiError(Exception):
    """The API refused a request. ``fields`` maps field paths to messages for 422s."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        self.fields: dict[str, str] = {}
        if isinstance(detail, list):
            for item in detail:
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query")]
                self.fields[".".join(loc) or "request"] = item.get("msg", "")
            message = "; ".join(f"{k}: {v}" for k, v in self.fields.items())
        else:
            message = str(detail)
        super().__init__(message)


def _raise_for(r: httpx.Response) -> None:
    if r.status_code < 400:
        return
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        detail = r.text or r.reason_phrase
    raise ApiError(r.status_code, detail)


def _session_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


class Client:
    def __init__(
        self, endpoint: str | None = None, api_key: str | None = None, timeout: float = 30
    ) -> None:
        config = load_config()
        self.endpoint = (endpoint or config["endpoint"]).rstrip("/")
        key = api_key if api_key is not None else config["api_key"]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        _raise_for(r)
        return r.json() if r.content else None

    def login(self, email: str, password: str, label: str = "cli") -> dict[str, Any]:
        """Trade email + password for a new API key (labelled ``label``) and use it from now
        on. The answer holds ``token`` (shown once), ``access_key`` and ``user``."""
        data: dict[str, Any] = self.request(
            "POST", "/api/auth/token", json={"email": email, "password": password, "label": label}
        )
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        return data

    def logins(self) -> list[dict[str, Any]]:
        """Your browser logins (web UI), newest first."""
        result: list[dict[str, Any]] = self.request("GET", "/api/logins")
        return result

    def revoke_login(self, login_id: str) -> None:
        """End one of your browser logins; that browser is logged out."""
        self.request("DELETE", f"/api/logins/{login_id}")

    def create_session(self, **fields: Any) -> list[dict[str, Any]]:
        """Create sessions; fields as in the API's SessionCreate."""
        result: list[dict[str, Any]] = self.request(
            "POST", "/api/sessions", json=_session_body(fields)
        )
        return result

    def list_sessions(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/sessions", params=_session_body(params))
        return result

    def get_session(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/sessions/{ref}")
        return result

    def rename_session(self, ref: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PATCH", f"/api/sessions/{ref}", json={"name": name})
        return result

    def terminate_session(self, ref: str, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "POST", f"/api/sessions/{ref}/terminate", json={"force": force}
        )
        return result

    def logs(
        self, ref: str, kernel: str | None = None, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]:
        params = _session_body({"kernel": kernel, "follow": follow, "tail": tail})
        with self.http.stream("GET", f"/api/sessions/{ref}/logs", params=params, timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r)
            yield from r.iter_bytes()

    def events(
        self, session_id: str | None = None, on_ready: Callable[[], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Status events as they happen (server-sent events), forever. ``on_ready`` is called
        once the server has subscribed: no event after that moment is missed."""
        params = {"session_id": session_id} if session_id else {}
        with self.http.stream("GET", "/api/events", params=params, timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r)
            kind = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready" and on_ready is not None:
                        on_ready()
                elif line.startswith("data:") and kind == "session.status":
                    yield json.loads(line[5:])

    def wait(
        self,
        ref: str,
        statuses: set[str] | None = None,
        timeout: float = 600,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """Poll until the session reaches one of ``statuses`` (default: ended)."""
        want = statuses or ENDED
        deadline = time.monotonic() + timeout
        while True:
            session = self.get_session(ref)
            if session["status"] in want or session["status"] in ENDED:
                return session
            if time.monotonic() > deadline:
                raise TimeoutError(f"session {ref} still {session['status']} after {timeout}s")
            time.sleep(interval)

    def images(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/images")
        return result

    def apps(self, ref: str) -> list[dict[str, Any]]:
        """The session's apps and which are open (``route``)."""
        result: list[dict[str, Any]] = self.request("GET", f"/api/sessions/{ref}/apps")
        return result

    def open_app(self, ref: str, name: str, public: bool = False,
                 allowed_ips: list[str] | None = None, preferred_port: int | None = None,
                 logdir: str | None = None) -> dict[str, Any]:
        """Start an app and route it through the proxy; ``url`` is a one-time link."""
        body = _session_body({"public": public, "allowed_ips": allowed_ips,
                              "preferred_port": preferred_port, "logdir": logdir})
        result: dict[str, Any] = self.request(
            "POST", f"/api/sessions/{ref}/apps/{name}/open", json=body, timeout=200)
        return result

    def close_app(self, ref: str, name: str) -> None:
        self.request("DELETE", f"/api/sessions/{ref}/apps/{name}")

    def ssh_key(self, ref: str) -> str:
        r = self.http.get(f"/api/sessions/{ref}/ssh-key")
        _raise_for(r)
        return r.text


class AsyncClient:
    """The same API for asyncio code."""

    def __init__(
        self, endpoint: str | None = None, api_key: str | None = None, timeout: float = 30
    ) -> None:
        config = load_config()
        self.endpoint = (endpoint or config["endpoint"]).rstrip("/")
        key = api_key if api_key is not None else config["api_key"]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.AsyncClient(base_url=self.endpoint, headers=headers, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = await self.http.request(method, path, **kwargs)
        _raise_for(r)
        return r.json() if r.content else None

    async def login(self, email: str, password: str, label: str = "sdk") -> dict[str, Any]:
        """As :meth:`Client.login`."""
        data: dict[str, Any] = await self.request(
            "POST", "/api/auth/token", json={"email": email, "password": password, "label": label}
        )
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        return data

    async def create_session(self, **fields: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request(
            "POST", "/api/sessions", json=_session_body(fields)
        )
        return result

    async def get_session(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/api/sessions/{ref}")
        return result

    async def terminate_session(self, ref: str, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", f"/api/sessions/{ref}/terminate", json={"force": force}
        )
        return result

    async def events(self, session_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        params = {"session_id": session_id} if session_id else {}
        async with self.http.stream("GET", "/api/events", params=params, timeout=None) as r:
            if r.status_code >= 400:
                await r.aread()
                _raise_for(r)
            kind = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "session.status":
                    yield json.loads(line[5:])
