"""Apps of sessions: list them, open one (start it in the kernel, give it a proxy route and the
owner a one-time link), close it, and keep the proxy's listeners in step with the database.

Routes live in ``app_routes``; :func:`sync_routes` (run at start and every second) binds the
ones this process does not serve yet (so a manager restart re-establishes open apps), drops
those whose session is no longer RUNNING and stores the proxy's last-traffic times.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.rules import RuleError
from berth.domain.status import SessionStatus, SessionType
from berth.manager.access import Action
from berth.manager.agent_client import AppFailed
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.tables import AgentRow, AppRouteRow, KernelRow, SessionRow
from berth.manager.schemas import AppOpenIn, AppOpenOut, AppOut, RouteOut, SshInfo
from berth.manager.services.sessions import Conflict, NotFound, find_session, kernel_of
from berth.proxy.access import PERMIT_PATH, Route, parse_networks
from berth.rpc import StartApp

log = logging.getLogger(__name__)
TITLES = {"jupyter": "Jupyter", "tensorboard": "TensorBoard", "sshd": "SSH/SFTP",
          "terminal": "Terminal"}
LANDING = {"jupyter": "/lab"}
SSH_USER = "work"


def main_kernel(row: SessionRow) -> KernelRow | None:
    fallback = row.kernels[0] if row.kernels else None
    return next((k for k in row.kernels if k.role == "main"), fallback)


def kernel_apps(row: SessionRow, kernel: KernelRow | None = None) -> list[dict[str, Any]]:
    """The session's apps: the image's (http/tcp) and preopen ports of its main kernel (or of
    ``kernel``), plus the terminal for interactive sessions."""
    kernel = kernel or main_kernel(row)
    apps = [dict(p) for p in (kernel.app_ports if kernel else [])]
    if row.type == SessionType.INTERACTIVE:
        apps.append({"name": "terminal", "protocol": "pty", "container_port": None,
                     "host_port": None})
    return apps


def public_host(m: Manager) -> str:
    return m.settings.proxy_public_host or m.settings.proxy_host


def app_url(m: Manager, port: int, path: str = "/") -> str:
    return f"http://{public_host(m)}:{port}{path}"


def route_of(r: AppRouteRow) -> Route:
    headers = {"Authorization": f"token {r.app_token}"} if r.app_token else {}
    return Route(id=r.id, proxy_port=r.proxy_port, session_id=r.session_id, app=r.app,
                 protocol="tcp" if r.protocol == "tcp" else "http",
                 target_host=r.target_host, host_port=r.host_port, public=r.public,
                 allowed_ips=tuple(r.allowed_ips), headers=headers)


def route_out(m: Manager, r: AppRouteRow) -> RouteOut:
    return RouteOut(proxy_port=r.proxy_port, url=app_url(m, r.proxy_port), public=r.public,
                    allowed_ips=list(r.allowed_ips), created_at=r.created_at,
                    last_traffic_at=r.last_traffic_at)


async def list_apps(m: Manager, actor: Actor, ref: str) -> list[AppOut]:
    async with m.db() as db:
        row = await find_session(db, actor, ref)
        routes = {r.app: r for r in (await db.scalars(
            select(AppRouteRow).where(AppRouteRow.session_id == row.id))).all()}
        return [
            AppOut(name=a["name"], title=TITLES.get(a["name"], f"Port {a['container_port']}"),
                   protocol=a["protocol"], container_port=a["container_port"],
                   route=route_out(m, routes[a["name"]]) if a["name"] in routes else None)
            for a in kernel_apps(row)
        ]


def _check_open(req: AppOpenIn) -> None:
    try:
        parse_networks(req.allowed_ips)
    except ValueError as e:
        raise RuleError("allowed_ips", str(e)) from e
    if req.logdir is not None and not req.logdir.startswith("/"):
        raise RuleError("logdir", "must be an absolute path inside the session, e.g. "
                        "/home/work/logs")


def port_candidates(pool: range, taken: set[int], preferred: int | None,
                    rng: random.Random) -> list[int]:
    """Ports to try, in order: the preferred one when it is in the pool and not taken, then
    the pool's other free ports in random order."""
    free = [p for p in pool if p not in taken]
    rng.shuffle(free)
    if preferred in free:
        free.remove(preferred)
        free.insert(0, preferred)
    return free


async def _owned(db: AsyncSession, actor: Actor, ref: str, action: Action) -> SessionRow:
    """The session, when ``actor`` may do ``action`` with it (apps are the owner's only, see
    :mod:`berth.manager.access`). Raises NotFound or Forbidden."""
    return await find_session(db, actor, ref, action)


async def _running_kernel(db: AsyncSession, row: SessionRow, needs: str,
                          ref: str | None = None) -> tuple[KernelRow, AgentRow]:
    """The RUNNING session's kernel ``ref`` (id or hostname; default: the main one) and its
    agent. Raises NotFound for an unknown kernel, Conflict saying why it cannot be used."""
    if ref is not None and kernel_of(row, ref) is None:
        raise NotFound(f"no kernel {ref} in this session")
    if row.status != SessionStatus.RUNNING:
        raise Conflict(f"the session is {row.status}: {needs} only while it is RUNNING")
    kernel = main_kernel(row) if ref is None else kernel_of(row, ref)
    agent = await db.get(AgentRow, kernel.agent_id) if kernel and kernel.agent_id else None
    if kernel is None or agent is None:
        raise Conflict("the session's kernel is not reachable")
    return kernel, agent


def route_key(row: SessionRow, name: str, kernel_ref: str | None) -> str:
    """The route's app name: ``name`` in the main kernel, ``name@HOSTNAME`` in another kernel
    of a cluster. Raises NotFound for an unknown kernel."""
    if kernel_ref is None:
        return name
    kernel = kernel_of(row, kernel_ref)
    if kernel is None:
        raise NotFound(f"no kernel {kernel_ref} in this session")
    return name if kernel is main_kernel(row) else f"{name}@{kernel.cluster_hostname}"


async def open_app(m: Manager, actor: Actor, ref: str, name: str, req: AppOpenIn,
                   kernel_ref: str | None = None) -> AppOpenOut:
    """Start ``name`` in the session's kernel (``kernel_ref``: another kernel of a cluster,
    by hostname or id) and serve it through the proxy. Owner only, RUNNING sessions only.
    Re-opening an open app keeps its port unless another is asked for, and applies the new
    options."""
    pool = m.settings.proxy_port_pool()
    _check_open(req)
    async with m.db() as db:
        row = await _owned(db, actor, ref, Action.OPEN_APP)
        key = route_key(row, name, kernel_ref)
        available = kernel_apps(row, kernel_of(row, kernel_ref) if kernel_ref else None)
        app = next((a for a in available if a["name"] == name), None)
        if app is None:
            names = ", ".join(a["name"] for a in available) or "none"
            raise RuleError("name", f"this session has no app '{name}' (its apps: {names})")
        kernel, agent = await _running_kernel(db, row, "apps open", kernel_ref)
        if app["protocol"] == "pty":
            where = f"?kernel={kernel.cluster_hostname}" if key != name else ""
            return AppOpenOut(name=name, url=f"/terminal/{row.id}{where}", proxy_port=None,
                              preferred_port_used=None, message="The terminal opens in Berth.")
        if not app.get("host_port"):
            raise Conflict("the session's kernel has no published port for this app")
        existing = (await db.scalars(select(AppRouteRow).where(
            AppRouteRow.session_id == row.id, AppRouteRow.app == key))).first()
        taken = set((await db.scalars(select(AppRouteRow.proxy_port))).all())
        session_id, kernel_id, address, agent_id = row.id, kernel.id, agent.address, agent.id
    token = existing.app_token if existing else (secrets.token_urlsafe(24)
                                                   if name == "jupyter" else "")
    args = {"token": token} if token else {}
    if name == "tensorboard":
        args["logdir"] = req.logdir or "/home/work/logs"
    try:
        started = await m.agents.start_app(address, kernel_id, StartApp(
            app=name, protocol=app["protocol"], container_port=app["container_port"],
            host_port=app["host_port"],
            args=args), agent=agent_id)
    except AppFailed as e:
        raise Conflict(str(e)) from e
    target_host = urlsplit(address).hostname or "127.0.0.1"
    values = dict(session_id=session_id, kernel_id=kernel_id, app=key,
                  protocol=app["protocol"], container_port=app["container_port"],
                  target_host=target_host, host_port=int(app["host_port"]), public=req.public,
                  allowed_ips=[s.strip() for s in req.allowed_ips], app_token=token)
    route_row = await _bind(m, existing, values, pool, taken, req.preferred_port)
    route = route_of(route_row)
    used = None if req.preferred_port is None else route.proxy_port == req.preferred_port
    notes = []
    if used is False:
        notes.append(f"Port {req.preferred_port} is not free in the proxy's pool "
                     f"({pool.start}-{pool.stop - 1}); the app is on port {route.proxy_port}.")
    if not started.ready and started.detail:
        notes.append(f"Nothing answers yet: {started.detail}.")
    if route.protocol == "tcp":
        ssh = SshInfo(host=public_host(m), port=route.proxy_port, user=SSH_USER)
        notes.insert(0, f"ssh -i id_container -p {route.proxy_port} {SSH_USER}@{ssh.host}")
        return AppOpenOut(name=name, url=None, proxy_port=route.proxy_port,
                          preferred_port_used=used, message=" ".join(notes), ssh=ssh)
    token_once = m.proxy.issue_token(route)
    landing = LANDING.get(name, "/")
    url = app_url(m, route.proxy_port, f"{PERMIT_PATH}?token={token_once}&next={landing}")
    if route.public:
        notes.append(f"Open to public: anyone may use {app_url(m, route.proxy_port)}"
                     + (" from the allowed addresses." if route.allowed_ips else "."))
    return AppOpenOut(name=name, url=url, proxy_port=route.proxy_port, preferred_port_used=used,
                      message=" ".join(notes) or f"{TITLES.get(name, name)} is on port "
                      f"{route.proxy_port}.")


async def _bind(m: Manager, existing: AppRouteRow | None, values: dict[str, Any], pool: range,
                taken: set[int], preferred: int | None) -> AppRouteRow:
    """Store the route and serve it: on its current port when it has one and no other port is
    asked for, else on the first bindable candidate. Raises Conflict when the pool is full."""
    keep = existing is not None and (preferred is None or preferred == existing.proxy_port)
    if existing is not None and keep:
        candidates = [existing.proxy_port]
    else:
        candidates = port_candidates(pool, taken, preferred, random.Random())
    for port in candidates:
        async with m.db() as db, db.begin():
            if existing is not None:
                row = await db.get(AppRouteRow, existing.id)
                if row is None:
                    raise Conflict("the app was closed while it was being opened; open it again")
                old_port = row.proxy_port
                for k, v in values.items():
                    setattr(row, k, v)
                row.proxy_port = port
            else:
                row = AppRouteRow(proxy_port=port, **values)
                old_port = None
                db.add(row)
            try:
                await db.flush()
            except IntegrityError:
                await db.rollback()
                if existing is None and await _route_exists(m, values):
                    raise Conflict("the app is being opened by another request") from None
                continue  # another route took this port meanwhile
            try:
                await m.proxy.open(route_of(row))
            except OSError:
                await db.rollback()
                continue  # something else on this host uses the port
            if old_port is not None and old_port != port:
                await m.proxy.close(old_port)
        return row
    raise Conflict(f"no free port in the app proxy's pool ({pool.start}-{pool.stop - 1})")


async def _route_exists(m: Manager, values: dict[str, Any]) -> bool:
    async with m.db() as db:
        found = await db.scalars(select(AppRouteRow.id).where(
            AppRouteRow.session_id == values["session_id"], AppRouteRow.app == values["app"]))
        return found.first() is not None


async def close_app(m: Manager, actor: Actor, ref: str, name: str,
                    kernel_ref: str | None = None) -> None:
    """Close the app's route (the app keeps running in the kernel). Idempotent."""
    async with m.db() as db, db.begin():
        row = await _owned(db, actor, ref, Action.OPEN_APP)
        name = route_key(row, name, kernel_ref)
        ports = (await db.scalars(select(AppRouteRow.proxy_port).where(
            AppRouteRow.session_id == row.id, AppRouteRow.app == name))).all()
        await db.execute(delete(AppRouteRow).where(
            AppRouteRow.session_id == row.id, AppRouteRow.app == name))
    for port in ports:
        await m.proxy.close(port)


async def ssh_key(m: Manager, actor: Actor, ref: str) -> tuple[str, str]:
    """(session name, private key) for the owner; the SSH app makes the key."""
    async with m.db() as db:
        row = await _owned(db, actor, ref, Action.SSH_KEY)
        kernel, agent = await _running_kernel(db, row, "the key is there")
        name, kernel_id, address, agent_id = row.name, kernel.id, agent.address, agent.id
    try:
        return name, await m.agents.ssh_key(address, kernel_id, agent=agent_id)
    except AppFailed as e:
        raise Conflict(str(e)) from e


async def terminal_target(m: Manager, actor: Actor, ref: str, cols: int,
                          rows: int, kernel_ref: str | None = None) -> tuple[str, str]:
    """The agent's terminal WebSocket for the owner's RUNNING session (its kernel
    ``kernel_ref``, id or hostname; default: the main one), and the agent's id."""
    async with m.db() as db:
        row = await _owned(db, actor, ref, Action.TERMINAL)
        kernel, agent = await _running_kernel(db, row, "the terminal works", kernel_ref)
    base = urlsplit(agent.address)
    return (f"ws://{base.netloc}/v1/kernels/{kernel.id}/terminal?cols={cols}&rows={rows}",
            agent.id)


async def sync_routes(m: Manager, flushed: dict[str, float]) -> None:
    """Make the proxy serve exactly the routes of RUNNING sessions in the database, and store
    last-traffic times newer than ``flushed`` (session id -> time, updated in place)."""
    async with m.db() as db, db.begin():
        rows = (await db.execute(
            select(AppRouteRow, SessionRow.status).join(
                SessionRow, SessionRow.id == AppRouteRow.session_id))).all()
        stale = [r.id for r, status in rows if status != SessionStatus.RUNNING]
        if stale:
            await db.execute(delete(AppRouteRow).where(AppRouteRow.id.in_(stale)))
        live = {r.proxy_port: route_of(r) for r, status in rows if status == SessionStatus.RUNNING}
        for session_id, at in list(m.proxy.last_traffic.items()):
            if at > flushed.get(session_id, 0):
                await db.execute(update(AppRouteRow).where(
                    AppRouteRow.session_id == session_id).values(
                        last_traffic_at=datetime.fromtimestamp(at, UTC)))
                flushed[session_id] = at
    for port in set(m.proxy.routes) - set(live):
        await m.proxy.close(port)
    for port, route in live.items():
        if m.proxy.routes.get(port) != route:
            try:
                await m.proxy.open(route)
            except OSError as e:
                log.warning("cannot serve app %s on port %d: %s", route.app, port, e)
    for session_id in set(m.proxy.last_traffic) - {r.session_id for r in live.values()}:
        m.proxy.last_traffic.pop(session_id, None)
        flushed.pop(session_id, None)



async def proxy_loop(m: Manager, interval: float = 1.0) -> None:
    """Run :func:`sync_routes` now (re-establishing open apps after a restart) and then every
    ``interval`` seconds; a failed pass is logged and retried."""
    flushed: dict[str, float] = {}
    while True:
        try:
            await sync_routes(m, flushed)
        except Exception:
            log.exception("syncing app routes failed")
        await asyncio.sleep(interval)
