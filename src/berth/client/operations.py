"""What each API operation sends, shared by :class:`~berth.client.Client` and
:class:`~berth.client.AsyncClient` so that the two cannot drift: every function returns the
HTTP method, the path and httpx's keyword arguments.

:data:`OPERATIONS` maps every operation of the OpenAPI document (``"METHOD /path"``) to the
method both clients have for it; a test compares it with the document, so a new route
without SDK methods fails. :data:`NOT_IN_SDK` lists the few left out on purpose, and why.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

Call = tuple[str, str, dict[str, Any]]

OPERATIONS: dict[str, str] = {
    "POST /api/auth/token": "login",
    "POST /api/auth/logout": "logout",
    "GET /api/logins": "logins",
    "DELETE /api/logins/{login_id}": "revoke_login",
    "GET /api/users/me": "me",
    "GET /api/users": "users",
    "POST /api/users": "create_user",
    "GET /api/keys": "keys",
    "POST /api/keys": "create_key",
    "DELETE /api/keys/{access_key}": "delete_key",
    "POST /api/sessions": "create_session",
    "GET /api/sessions": "list_sessions",
    "GET /api/sessions/{ref}": "get_session",
    "PATCH /api/sessions/{ref}": "rename_session",
    "POST /api/sessions/{ref}/terminate": "terminate_session",
    "POST /api/sessions/terminate": "terminate_sessions",
    "GET /api/sessions/{ref}/logs": "logs",
    "GET /api/sessions/{ref}/apps": "apps",
    "POST /api/sessions/{ref}/apps/{name}/open": "open_app",
    "DELETE /api/sessions/{ref}/apps/{name}": "close_app",
    "GET /api/sessions/{ref}/ssh-key": "ssh_key",
    "GET /api/launches": "launches",
    "PATCH /api/launches/{launch_id}": "update_launch",
    "DELETE /api/launches/{launch_id}": "delete_launch",
    "GET /api/images": "images",
    "GET /api/agents": "agents",
    "GET /api/events": "events",
    "GET /api/health": "health",
}

NOT_IN_SDK: dict[str, str] = {
    "POST /api/auth/login": "the browser login: it gives a cookie for the web UI, which "
    "state-changing calls may only use from the manager's own pages; programs use "
    "login() (POST /api/auth/token), an API key",
}


def seg(value: str) -> str:
    """One path segment (a session id or name, an app name...), escaped."""
    return quote(value, safe="")


def present(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the ones left unset (None)."""
    return {k: v for k, v in values.items() if v is not None}


def login(email: str, password: str, label: str) -> Call:
    body = {"email": email, "password": password, "label": label}
    return "POST", "/api/auth/token", {"json": body}


def create_user(email: str, password: str, role: str, full_name: str) -> Call:
    body = {"email": email, "password": password, "role": role, "full_name": full_name}
    return "POST", "/api/users", {"json": body}


def create_session(fields: dict[str, Any], dry_run: bool) -> Call:
    params = {"dry_run": "true"} if dry_run else {}
    return "POST", "/api/sessions", {"json": present(fields), "params": params}


def rename_session(ref: str, name: str) -> Call:
    return "PATCH", f"/api/sessions/{seg(ref)}", {"json": {"name": name}}


def terminate_session(ref: str, force: bool) -> Call:
    return "POST", f"/api/sessions/{seg(ref)}/terminate", {"json": {"force": force}}


def terminate_sessions(refs: list[str], force: bool) -> Call:
    return "POST", "/api/sessions/terminate", {"json": {"ids": refs, "force": force}}


def logs(ref: str, kernel: str | None, follow: bool, tail: int | None) -> Call:
    params = present({"kernel": kernel, "follow": str(follow).lower(), "tail": tail})
    return "GET", f"/api/sessions/{seg(ref)}/logs", {"params": params, "timeout": None}


def open_app(ref: str, name: str, public: bool, allowed_ips: list[str] | None,
             preferred_port: int | None, logdir: str | None) -> Call:
    body = present({"public": public, "allowed_ips": allowed_ips,
                    "preferred_port": preferred_port, "logdir": logdir})
    # Starting an app may take minutes (the manager bounds it); do not give up before it.
    return "POST", f"/api/sessions/{seg(ref)}/apps/{seg(name)}/open", {"json": body,
                                                                        "timeout": 200}


def update_launch(launch_id: str, label: str | None, pinned: bool | None) -> Call:
    body = present({"label": label, "pinned": pinned})
    return "PATCH", f"/api/launches/{seg(launch_id)}", {"json": body}


def events(session_id: str | None) -> Call:
    params = {"session_id": session_id} if session_id else {}
    return "GET", "/api/events", {"params": params, "timeout": None}
