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

from berth.client.admin_ops import ADMIN_OPERATIONS
from berth.client.commits import COMMIT_OPERATIONS

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
    "GET /api/sessions/{ref}/usage": "session_usage",
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
    "GET /api/storage/hosts": "list_storage_hosts",
    "GET /api/folders": "list_folders",
    "POST /api/folders": "create_folder",
    "GET /api/folders/{folder}": "get_folder",
    "PATCH /api/folders/{folder}": "update_folder",
    "DELETE /api/folders/{folder}": "trash_folder",
    "POST /api/folders/{folder}/restore": "restore_folder",
    "POST /api/folders/{folder}/purge": "purge_folder",
    "GET /api/folders/{folder}/shares": "list_folder_shares",
    "POST /api/folders/{folder}/shares": "share_folder",
    "DELETE /api/folders/{folder}/shares/{user_id}": "unshare_folder",
    "GET /api/folders/{folder}/files": "list_files",
    "DELETE /api/folders/{folder}/files": "remove_file",
    "GET /api/folders/{folder}/download": "download",
    "POST /api/folders/{folder}/mkdir": "mkdir",
    "POST /api/folders/{folder}/move": "move_file",
    "POST /api/uploads": "upload",
    **ADMIN_OPERATIONS,
    **COMMIT_OPERATIONS,
}

NOT_IN_SDK: dict[str, str] = {
    "POST /api/auth/login": "the browser login: it gives a cookie for the web UI, which "
    "state-changing calls may only use from the manager's own pages; programs use "
    "login() (POST /api/auth/token), an API key",
    "POST /api/uploads/": "the tus creation again, with a trailing slash; upload() uses "
    "POST /api/uploads",
    "HEAD /api/uploads/{uuid}": "tus: the offset to resume at; upload() asks it itself",
    "PATCH /api/uploads/{uuid}": "tus: the chunks of an upload; upload() sends them itself",
    "OPTIONS /api/uploads/": "tus discovery (version, extensions); upload() speaks tus "
    "1.0.0 with creation, which the manager serves",
    "DELETE /api/uploads/{uuid}": "tus termination: an unfinished upload is kept to be "
    "resumed and expires by itself after a day",
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


# ---- folders (storage) ----
def folder_path(folder: str, rest: str = "") -> str:
    """The path of a folder (an id or a name) or of one of its resources."""
    return f"/api/folders/{seg(folder)}{rest}"


def list_folders(trashed: bool) -> Call:
    return "GET", "/api/folders", {"params": {"trashed": str(trashed).lower()}}


def create_folder(name: str, host: str | None, usage_mode: str | None,
                  permission: str | None, project: str | None) -> Call:
    body = present({"name": name, "host": host, "usage_mode": usage_mode,
                    "permission": permission, "project": project})
    return "POST", "/api/folders", {"json": body}


def update_folder(folder: str, name: str | None, usage_mode: str | None,
                  permission: str | None) -> Call:
    body = present({"name": name, "usage_mode": usage_mode, "permission": permission})
    return "PATCH", folder_path(folder), {"json": body}


def restore_folder(folder: str, name: str | None) -> Call:
    return "POST", folder_path(folder, "/restore"), {"json": present({"name": name})}


def share_folder(folder: str, email: str, permission: str) -> Call:
    body = {"email": email, "permission": permission}
    return "POST", folder_path(folder, "/shares"), {"json": body}


def unshare_folder(folder: str, user_id: str) -> Call:
    return "DELETE", folder_path(folder, f"/shares/{seg(user_id)}"), {}


def list_files(folder: str, path: str, sort: str, order: str, offset: int,
               limit: int) -> Call:
    params = {"path": path, "sort": sort, "order": order, "offset": offset, "limit": limit}
    return "GET", folder_path(folder, "/files"), {"params": params}


def mkdir(folder: str, path: str, parents: bool) -> Call:
    return "POST", folder_path(folder, "/mkdir"), {"json": {"path": path, "parents": parents}}


def move_file(folder: str, src: str, dst: str) -> Call:
    return "POST", folder_path(folder, "/move"), {"json": {"src": src, "dst": dst}}


def remove_file(folder: str, path: str, recursive: bool) -> Call:
    params = {"path": path, "recursive": str(recursive).lower()}
    return "DELETE", folder_path(folder, "/files"), {"params": params}


def download(folder: str, path: str) -> Call:
    # A directory is zipped while it streams: allow pauses between its pieces.
    return "GET", folder_path(folder, "/download"), {"params": {"path": path}, "timeout": 300}
