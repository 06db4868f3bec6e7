"""Dependencies shared by the routers: the manager and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from berth.domain.credentials import LOGIN_COOKIE
from berth.manager import csrf
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.services.users import actor_for_login, actor_for_token

bearer = HTTPBearer(auto_error=False, description="API key '<access key>.<secret>'")


async def get_manager(conn: HTTPConnection) -> Manager:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per
    # request (about 1 ms of CPU on two busy cores, a sixth of a create request's own cost).
    manager: Manager = conn.app.state.manager
    return manager


ManagerDep = Annotated[Manager, Depends(get_manager)]


async def get_actor(
    request: Request,
    m: ManagerDep,
    # Declared for the OpenAPI document's security scheme; the header is read below.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The caller: an API key in ``Authorization: Bearer`` (CLI, SDK), or else the browser's
    login cookie. A request with an ``Authorization`` header is judged by that header alone
    (the CSRF guard lets such requests through, so a cookie must not ride along). Raises 401."""
    actor = await _actor(m, request.headers.get("authorization"),
                         request.cookies.get(LOGIN_COOKIE))
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: log in, or send 'Authorization: Bearer <API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


async def _actor(m: Manager, authorization: str | None, cookie: str | None) -> Actor | None:
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await actor_for_token(m.db, token.strip())
    return await actor_for_login(m.db, cookie) if cookie else None


ActorDep = Annotated[Actor, Depends(get_actor)]


async def actor_from_websocket(m: Manager, ws: WebSocket) -> Actor:
    """The caller of a WebSocket: an API key in ``Authorization``, or the login cookie from a
    page of the manager's own origin, scheme, host and port alike (browsers apply no CORS to
    WebSockets; :class:`berth.manager.csrf.CsrfGuard` refuses such handshakes before this, and
    this check stays as the route's own). Raises PermissionError."""
    authorization = ws.headers.get("authorization")
    cookie = ws.cookies.get(LOGIN_COOKIE)
    if authorization is None and cookie:
        origin = ws.headers.get("origin")
        own = csrf.own_origin(ws.url.scheme, ws.headers.get("host", ""))
        public = csrf.normalize_origin(m.settings.public_url) if m.settings.public_url else None
        if origin is not None and csrf.normalize_origin(origin) not in {own, public} - {None}:
            raise PermissionError(f"a page from {origin} may not use this session")
    actor = await _actor(m, authorization, cookie)
    if actor is None:
        raise PermissionError("authentication required")
    return actor
