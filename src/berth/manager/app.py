"""The manager's FastAPI application. ``create_app(settings)`` does no work until started."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from berth import __version__
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import InvalidTransition
from berth.manager.agent_client import AgentClient, AgentTimeouts, AgentUnreachable
from berth.manager.api import (
    admin,
    apps,
    auth,
    catalog,
    commits,
    events,
    files,
    folders,
    internal,
    launches,
    sessions,
    uploads,
)
from berth.manager.api_docs import mount_api_docs
from berth.manager.body_limit import BodyLimit
from berth.manager.context import Manager
from berth.manager.csrf import CsrfGuard
from berth.manager.db.engine import make_engine, make_sessionmaker, reading
from berth.manager.events import make_event_bus
from berth.manager.schemas import text_problem
from berth.manager.services.agents import register_known_slots
from berth.manager.services.apps import proxy_loop
from berth.manager.services.idle import idle_loop
from berth.manager.services.sessions import Conflict, Forbidden, NotFound
from berth.manager.services.users import ensure_defaults
from berth.manager.services.watchdog import run_loops
from berth.proxy.server import AppProxy
from berth.settings import ManagerSettings
from berth.storage.fs import FsError


def _rule_error(_: Request, exc: Exception) -> JSONResponse:
    """One broken rule (RuleError) or several (RuleErrors): one 422 listing each, in the
    shape FastAPI uses for its own validation errors."""
    assert isinstance(exc, RuleError | RuleErrors)
    errors = exc.errors if isinstance(exc, RuleErrors) else [exc]
    detail = [{"loc": ["body", *_loc(e.field)], "msg": e.message, "type": "value_error"}
              for e in errors]
    return JSONResponse(status_code=422, content={"detail": detail})


def _loc(field: str) -> list[str | int]:
    """``mounts[2].path`` → ``["mounts", 2, "path"]``, the way FastAPI names list items."""
    loc: list[str | int] = []
    for part in field.split("."):
        name, _, index = part.partition("[")
        loc.append(name)
        if index.rstrip("]").isdigit():
            loc.append(int(index.rstrip("]")))
    return loc


class _RejectUnstorableText:
    """ASGI middleware: a path or query with NUL or broken text gets a 422, not a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("query_string", b"").decode("latin-1")
            query = unquote(raw, errors="surrogateescape")
            for where, text in (("path", scope["path"]), ("query", query)):
                if problem := text_problem(text):
                    body = {"detail": [{"loc": [where], "msg": problem, "type": "value_error"}]}
                    await JSONResponse(body, status_code=422)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the offending input: it may be a password, or text that cannot
    even be encoded (an unpaired surrogate), and the client sent it anyway."""
    assert isinstance(exc, RequestValidationError)
    def safe(part: object) -> object:  # a dict key in a location may be broken text too
        return part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part

    errors = [{"loc": [safe(p) for p in e["loc"]], "msg": safe(e["msg"]), "type": e["type"]}
              for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": errors})


def _status(code: int):  # type: ignore[no-untyped-def]
    def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return handler


def _fs_error(request: Request, exc: Exception) -> JSONResponse:
    """A refused or failed file operation: its status (400/404/409), the message naming the
    path; 400s in the shape of a validation error naming the field."""
    assert isinstance(exc, FsError)
    if exc.status == 400:
        where = "body" if request.method in ("POST", "PATCH", "PUT") else "query"
        detail: Any = [{"loc": [where, exc.field],
                        "msg": exc.message.removeprefix(f"{exc.field}: "),
                        "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail})
    return JSONResponse(status_code=exc.status, content={"detail": exc.message})


def _agent_error(_: Request, exc: Exception) -> JSONResponse:
    """503 (unreachable, refused) or 504 (no answer in time); the detail names the agent."""
    assert isinstance(exc, AgentUnreachable)
    return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})


def create_app(settings: ManagerSettings) -> FastAPI:
    """The manager app. Migrations must have run (``berth manager`` does that first)."""
    settings = settings.model_copy(update={"agent_token": settings.resolved_agent_token()})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url())
        maker = make_sessionmaker(engine)
        await ensure_defaults(maker)
        async with reading(maker) as db:
            await register_known_slots(db)
        manager = Manager(
            settings=settings,
            db=maker,
            bus=make_event_bus(settings.event_bus, settings.redis_url),
            agents=AgentClient(settings.agent_token, AgentTimeouts(
                connect=settings.rpc_connect_timeout, call=settings.rpc_call_timeout,
                probe=settings.rpc_probe_interval, app_start=settings.app_start_timeout)),
            proxy=AppProxy(settings.proxy_secret(), settings.proxy_host),
        )
        app.state.manager = manager
        loops = asyncio.create_task(run_loops(manager))
        routes = asyncio.create_task(proxy_loop(manager))
        idle = asyncio.create_task(idle_loop(manager))
        try:
            yield
        finally:
            loops.cancel()
            routes.cancel()
            idle.cancel()  # it flushes the sessions' traffic as it stops
            for task in list(manager.tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(loops, routes, idle, *manager.tasks,
                                     return_exceptions=True)
            await manager.proxy.close_all()
            await manager.agents.close()
            await manager.bus.close()
            await engine.dispose()

    app = FastAPI(
        title="Berth",
        version=__version__,
        description="Compute sessions in containers on your own servers.",
        lifespan=lifespan,
        docs_url=None,  # mount_api_docs: the same page with assets served from here
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(_RejectUnstorableText)
    app.add_middleware(CsrfGuard, public_url=settings.public_url)
    app.add_middleware(BodyLimit)  # outermost: refuses large bodies before anything reads them
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RuleError, _rule_error)
    app.add_exception_handler(RuleErrors, _rule_error)
    app.add_exception_handler(NotFound, _status(404))
    app.add_exception_handler(Forbidden, _status(403))
    app.add_exception_handler(Conflict, _status(409))
    app.add_exception_handler(FsError, _fs_error)
    app.add_exception_handler(InvalidTransition, _status(409))
    app.add_exception_handler(AgentUnreachable, _agent_error)
    for module in (auth, sessions, apps, launches, catalog, events, internal, folders, files,
                   admin):
        app.include_router(module.router)
    app.include_router(uploads.uploads_router(settings), dependencies=uploads.DEPENDENCIES)
    app.include_router(commits.router)  # commit to image (issue 12)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    mount_api_docs(app, "/api/openapi.json")
    mount_webui(app, settings.resolved_webui_dir())
    return app


def mount_webui(app: FastAPI, bundle: Path | None) -> None:
    """Serve the built web UI at ``/``: files as they are, index.html for client routes."""
    if bundle is None or not (bundle / "index.html").is_file():
        return
    index = bundle / "index.html"
    root = bundle.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def webui(path: str) -> FileResponse:
        if path.startswith("api/") or path == "api":
            raise HTTPException(404, "no such API endpoint")
        target = (bundle / path).resolve()
        if path and target.is_relative_to(root) and target.is_file():
            return FileResponse(target)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
