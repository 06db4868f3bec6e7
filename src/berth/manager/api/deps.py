"""Dependencies shared by the routers: the manager, the caller, and row -> schema helpers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.requests import HTTPConnection

from berth.domain import slots as sl
from berth.manager.auth import COOKIE_NAME, Actor
from berth.manager.context import Manager
from berth.manager.db.tables import ProjectRow, SessionRow, UserRow
from berth.manager.schemas import KernelOut, SessionOut
from berth.manager.services.users import actor_for_token

bearer = HTTPBearer(auto_error=False, description="API key '<access key>.<secret>'")


def get_manager(conn: HTTPConnection) -> Manager:
    manager: Manager = conn.app.state.manager
    return manager


ManagerDep = Annotated[Manager, Depends(get_manager)]


async def get_actor(
    request: Request,
    m: ManagerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    token = credentials.credentials if credentials else request.cookies.get(COOKIE_NAME)
    actor = await actor_for_token(m.db, token) if token else None
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send 'Authorization: Bearer <API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


async def sessions_out(m: Manager, rows: list[SessionRow]) -> list[SessionOut]:
    """Schemas for rows, with owner emails and project names looked up in one go each."""
    async with m.db() as db:
        users = dict(
            (
                await db.execute(
                    select(UserRow.id, UserRow.email).where(
                        UserRow.id.in_({r.owner_id for r in rows})
                    )
                )
            )
            .tuples()
            .all()
        )
        projects = dict(
            (
                await db.execute(
                    select(ProjectRow.id, ProjectRow.name).where(
                        ProjectRow.id.in_({r.project_id for r in rows})
                    )
                )
            )
            .tuples()
            .all()
        )
    return [
        SessionOut(
            id=r.id,
            name=r.name,
            type=r.type,
            status=r.status,
            status_info=r.status_info,
            status_data=r.status_data,
            status_changed_at=r.status_changed_at,
            result=r.result,
            exit_code=r.exit_code,
            image=r.image,
            owner_id=r.owner_id,
            owner_email=users.get(r.owner_id, ""),
            creator_id=r.creator_id,
            project=projects.get(r.project_id, ""),
            resource_group=r.resource_group,
            agent_id=r.agent_id,
            requested=sl.to_json(sl.from_json(r.requested_slots)),
            environ=r.environ,
            startup_command=r.startup_command,
            starts_at=r.starts_at,
            timeout_seconds=r.timeout_seconds,
            preopen_ports=r.preopen_ports,
            cluster_mode=r.cluster_mode,
            cluster_size=r.cluster_size,
            created_at=r.created_at,
            started_at=r.started_at,
            terminated_at=r.terminated_at,
            kernels=[KernelOut.model_validate(k) for k in r.kernels],
        )
        for r in rows
    ]


async def actor_from_websocket(m: Manager, ws: WebSocket) -> Actor:
    """The caller of a WebSocket: an API key in ``Authorization``, or the login cookie from a
    page of this very origin (a cookie sent by another site's page is refused, as browsers
    do not apply CORS to WebSockets). Raises PermissionError."""
    auth = ws.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    if token is None:
        token = ws.cookies.get(COOKIE_NAME)
        origin = ws.headers.get("origin")
        if token and origin is not None and urlsplit(origin).netloc != ws.headers.get("host"):
            raise PermissionError(f"a page from {origin} may not use this session")
    actor = await actor_for_token(m.db, token) if token else None
    if actor is None:
        raise PermissionError("authentication required")
    return actor
