"""Berth's Python SDK: ``Client`` (sync) and ``AsyncClient`` over the REST API.

Configuration: explicit arguments, else ``BERTH_ENDPOINT`` / ``BERTH_API_KEY``, else the file
``berth login`` writes (``~/.config/berth/client.toml``, mode 0600).

    from berth.client import Client
    with Client() as berth:
        [s] = berth.create_session(image="berth/python:3.11", type="batch",
                                   startup_command="python -c 'print(42)'")
        berth.wait(s["id"])

Both clients have one method per API operation, with the same names and arguments
(``berth.client.operations.OPERATIONS`` maps each operation to its method); answers are the
API's JSON as plain dicts and lists. Storage folders and their files (upload, download...)
are in :mod:`berth.client.folders`, projects, resource groups, presets, policies and the
resource check in :mod:`berth.client.admin`, mixed into both clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from berth.client import operations as op
from berth.client.admin import AdminMethods
from berth.client.admin_async import AsyncAdminMethods
from berth.client.commits import AsyncCommitMethods, CommitMethods
from berth.client.errors import ApiError, raise_for
from berth.client.folders import FolderMethods
from berth.client.folders_async import AsyncFolderMethods
from berth.files import write_private

__all__ = ["ENDED", "ApiError", "AsyncClient", "Client", "config_path", "load_config",
           "save_config"]

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


def _event(kind: str, line: str) -> dict[str, Any] | None:
    """The data of a ``session.status`` server-sent event line, else None."""
    if line.startswith("data:") and kind == "session.status":
        data: dict[str, Any] = json.loads(line[5:])
        return data
    return None


class Client(FolderMethods, AdminMethods, CommitMethods):
    """The API for ordinary (blocking) code. Raises :class:`ApiError` for refusals."""

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
        """Any API call: the answer's JSON (None when empty). Raises ApiError."""
        r = self.http.request(method, path, **kwargs)
        raise_for(r)
        return r.json() if r.content else None

    def _do(self, call: op.Call) -> Any:
        method, path, kwargs = call
        return self.request(method, path, **kwargs)

    # ---- accounts ----
    def login(self, email: str, password: str, label: str = "cli") -> dict[str, Any]:
        """Trade email + password for a new API key (labelled ``label``) and use it from now
        on. The answer holds ``token`` (shown once), ``access_key`` and ``user``."""
        data: dict[str, Any] = self._do(op.login(email, password, label))
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        return data

    def logout(self) -> None:
        """End this client's browser login, if it has one (an API key stays valid: delete
        it with :meth:`delete_key`)."""
        self.request("POST", "/api/auth/logout")

    def logins(self) -> list[dict[str, Any]]:
        """Your browser logins (web UI), newest first."""
        result: list[dict[str, Any]] = self.request("GET", "/api/logins")
        return result

    def revoke_login(self, login_id: str) -> None:
        """End one of your browser logins; that browser is logged out."""
        self.request("DELETE", f"/api/logins/{op.seg(login_id)}")

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/users/me")
        return result

    def users(self) -> list[dict[str, Any]]:
        """Every account (admins only)."""
        result: list[dict[str, Any]] = self.request("GET", "/api/users")
        return result

    def create_user(self, email: str, password: str, role: str = "user",
                    full_name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._do(op.create_user(email, password, role, full_name))
        return result

    def keys(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/keys")
        return result

    def create_key(self, label: str = "") -> dict[str, Any]:
        """A new API key; its ``token`` is in this answer only."""
        result: dict[str, Any] = self.request("POST", "/api/keys", json={"label": label})
        return result

    def delete_key(self, access_key: str) -> None:
        self.request("DELETE", f"/api/keys/{op.seg(access_key)}")

    # ---- sessions ----
    def create_session(self, dry_run: bool = False, **fields: Any) -> list[dict[str, Any]]:
        """Create sessions; fields as in the API's SessionCreate. ``dry_run`` only validates
        and answers the sessions that would be made. Folders to mount:
        ``mounts=[{"folder": name or id, "path": where (default /home/work/NAME),
        "mode": "rw" or "ro"}]``."""
        result: list[dict[str, Any]] = self._do(op.create_session(fields, dry_run))
        return result

    def list_sessions(self, **params: Any) -> dict[str, Any]:
        """A page of your sessions: ``state``, ``type``, ``name``, ``offset``, ``limit``,
        ``sort`` as in the API."""
        result: dict[str, Any] = self.request("GET", "/api/sessions", params=op.present(params))
        return result

    def get_session(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/sessions/{op.seg(ref)}")
        return result

    def session_usage(self, ref: str) -> dict[str, Any]:
        """Live usage of each kernel: the newest sample and the recent ones (SessionUsageOut)."""
        result: dict[str, Any] = self.request("GET", f"/api/sessions/{op.seg(ref)}/usage")
        return result

    def rename_session(self, ref: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(op.rename_session(ref, name))
        return result

    def terminate_session(self, ref: str, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._do(op.terminate_session(ref, force))
        return result

    def terminate_sessions(self, refs: list[str], force: bool = False) -> dict[str, str]:
        """Terminate several sessions: each ref with "ok" or why it was refused."""
        result: dict[str, str] = self._do(op.terminate_sessions(refs, force))
        return result

    def logs(
        self, ref: str, kernel: str | None = None, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]:
        method, path, kwargs = op.logs(ref, kernel, follow, tail)
        with self.http.stream(method, path, **kwargs) as r:
            if r.status_code >= 400:
                r.read()
                raise_for(r)
            yield from r.iter_bytes()

    def events(
        self, session_id: str | None = None, on_ready: Callable[[], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Status events as they happen (server-sent events), forever. ``on_ready`` is called
        once the server has subscribed: no event after that moment is missed."""
        method, path, kwargs = op.events(session_id)
        with self.http.stream(method, path, **kwargs) as r:
            if r.status_code >= 400:
                r.read()
                raise_for(r)
            kind = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready" and on_ready is not None:
                        on_ready()
                elif (event := _event(kind, line)) is not None:
                    yield event

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

    # ---- apps ----
    def apps(self, ref: str) -> list[dict[str, Any]]:
        """The session's apps and which are open (``route``)."""
        result: list[dict[str, Any]] = self.request("GET", f"/api/sessions/{op.seg(ref)}/apps")
        return result

    def open_app(self, ref: str, name: str, public: bool = False,
                 allowed_ips: list[str] | None = None, preferred_port: int | None = None,
                 logdir: str | None = None) -> dict[str, Any]:
        """Start an app and route it through the proxy; ``url`` is a one-time link."""
        result: dict[str, Any] = self._do(
            op.open_app(ref, name, public, allowed_ips, preferred_port, logdir))
        return result

    def close_app(self, ref: str, name: str) -> None:
        self.request("DELETE", f"/api/sessions/{op.seg(ref)}/apps/{op.seg(name)}")

    def ssh_key(self, ref: str) -> str:
        r = self.http.get(f"/api/sessions/{op.seg(ref)}/ssh-key")
        raise_for(r)
        return r.text

    # ---- launches, catalog, health ----
    def launches(self) -> list[dict[str, Any]]:
        """Your pinned and most recent launches."""
        result: list[dict[str, Any]] = self.request("GET", "/api/launches")
        return result

    def update_launch(self, launch_id: str, label: str | None = None,
                      pinned: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._do(op.update_launch(launch_id, label, pinned))
        return result

    def delete_launch(self, launch_id: str) -> None:
        self.request("DELETE", f"/api/launches/{op.seg(launch_id)}")

    def images(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/images")
        return result

    def agents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/agents")
        return result

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/health")
        return result


class AsyncClient(AsyncFolderMethods, AsyncAdminMethods, AsyncCommitMethods):
    """The same API for asyncio code: the same methods, awaited (``logs`` and ``events``
    are async iterators)."""

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
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call: the answer's JSON (None when empty). Raises ApiError."""
        r = await self.http.request(method, path, **kwargs)
        raise_for(r)
        return r.json() if r.content else None

    async def _do(self, call: op.Call) -> Any:
        method, path, kwargs = call
        return await self.request(method, path, **kwargs)

    # ---- accounts ----
    async def login(self, email: str, password: str, label: str = "sdk") -> dict[str, Any]:
        """As :meth:`Client.login`."""
        data: dict[str, Any] = await self._do(op.login(email, password, label))
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        return data

    async def logout(self) -> None:
        await self.request("POST", "/api/auth/logout")

    async def logins(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/logins")
        return result

    async def revoke_login(self, login_id: str) -> None:
        await self.request("DELETE", f"/api/logins/{op.seg(login_id)}")

    async def me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/api/users/me")
        return result

    async def users(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/users")
        return result

    async def create_user(self, email: str, password: str, role: str = "user",
                          full_name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self._do(
            op.create_user(email, password, role, full_name))
        return result

    async def keys(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/keys")
        return result

    async def create_key(self, label: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", "/api/keys", json={"label": label})
        return result

    async def delete_key(self, access_key: str) -> None:
        await self.request("DELETE", f"/api/keys/{op.seg(access_key)}")

    # ---- sessions ----
    async def create_session(self, dry_run: bool = False,
                             **fields: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._do(op.create_session(fields, dry_run))
        return result

    async def list_sessions(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", "/api/sessions", params=op.present(params))
        return result

    async def get_session(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/api/sessions/{op.seg(ref)}")
        return result

    async def session_usage(self, ref: str) -> dict[str, Any]:
        """Live usage of each kernel: the newest sample and the recent ones (SessionUsageOut)."""
        result: dict[str, Any] = await self.request(
            "GET", f"/api/sessions/{op.seg(ref)}/usage")
        return result

    async def rename_session(self, ref: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(op.rename_session(ref, name))
        return result

    async def terminate_session(self, ref: str, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(op.terminate_session(ref, force))
        return result

    async def terminate_sessions(self, refs: list[str], force: bool = False) -> dict[str, str]:
        result: dict[str, str] = await self._do(op.terminate_sessions(refs, force))
        return result

    async def logs(
        self, ref: str, kernel: str | None = None, follow: bool = False, tail: int | None = None
    ) -> AsyncIterator[bytes]:
        method, path, kwargs = op.logs(ref, kernel, follow, tail)
        async with self.http.stream(method, path, **kwargs) as r:
            if r.status_code >= 400:
                await r.aread()
                raise_for(r)
            async for chunk in r.aiter_bytes():
                yield chunk

    async def events(
        self, session_id: str | None = None, on_ready: Callable[[], None] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        method, path, kwargs = op.events(session_id)
        async with self.http.stream(method, path, **kwargs) as r:
            if r.status_code >= 400:
                await r.aread()
                raise_for(r)
            kind = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready" and on_ready is not None:
                        on_ready()
                elif (event := _event(kind, line)) is not None:
                    yield event

    async def wait(
        self,
        ref: str,
        statuses: set[str] | None = None,
        timeout: float = 600,  # noqa: ASYNC109 - the same arguments as Client.wait
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """As :meth:`Client.wait`."""
        want = statuses or ENDED
        deadline = time.monotonic() + timeout
        while True:
            session = await self.get_session(ref)
            if session["status"] in want or session["status"] in ENDED:
                return session
            if time.monotonic() > deadline:
                raise TimeoutError(f"session {ref} still {session['status']} after {timeout}s")
            await asyncio.sleep(interval)

    # ---- apps ----
    async def apps(self, ref: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request(
            "GET", f"/api/sessions/{op.seg(ref)}/apps")
        return result

    async def open_app(self, ref: str, name: str, public: bool = False,
                       allowed_ips: list[str] | None = None, preferred_port: int | None = None,
                       logdir: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(
            op.open_app(ref, name, public, allowed_ips, preferred_port, logdir))
        return result

    async def close_app(self, ref: str, name: str) -> None:
        await self.request("DELETE", f"/api/sessions/{op.seg(ref)}/apps/{op.seg(name)}")

    async def ssh_key(self, ref: str) -> str:
        r = await self.http.get(f"/api/sessions/{op.seg(ref)}/ssh-key")
        raise_for(r)
        return r.text

    # ---- launches, catalog, health ----
    async def launches(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/launches")
        return result

    async def update_launch(self, launch_id: str, label: str | None = None,
                            pinned: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(op.update_launch(launch_id, label, pinned))
        return result

    async def delete_launch(self, launch_id: str) -> None:
        await self.request("DELETE", f"/api/launches/{op.seg(launch_id)}")

    async def images(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/images")
        return result

    async def agents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/agents")
        return result

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/api/health")
        return result
