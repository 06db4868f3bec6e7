"""Apps of a session: list, open (one-time link through the app proxy), close, SSH key, and
the web terminal's WebSocket."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Annotated

import websockets
from fastapi import APIRouter, Query, Response, WebSocket
from fastapi.responses import PlainTextResponse

from berth.aio import until_first_done
from berth.manager.agent_client import AGENT_ERRORS
from berth.manager.api.deps import ActorDep, ManagerDep, actor_from_websocket
from berth.manager.schemas import AppOpenIn, AppOpenOut, AppOut
from berth.manager.services import apps
from berth.manager.services.activity import visible_session_id

router = APIRouter(prefix="/api/sessions", tags=["apps"])
REF = "Session id or name."
KernelQuery = Annotated[str | None, Query(
    max_length=64, description="A kernel of a cluster session: its hostname (main1, sub1, "
    "...) or id; default: the main kernel.")]


@router.get("/{ref}/apps")
async def list_apps(ref: str, actor: ActorDep, m: ManagerDep) -> list[AppOut]:
    """The session's apps (image apps, preopen ports, terminal) and which are open."""
    return await apps.list_apps(m, actor, ref)


@router.post(
    "/{ref}/apps/{name}/open",
    responses={403: {"description": "Not the session's owner"},
               409: {"description": "Session not RUNNING, app failed, or the pool is full"},
               **AGENT_ERRORS},
)
async def open_app(ref: str, name: str, body: AppOpenIn, actor: ActorDep,
                   m: ManagerDep, kernel: KernelQuery = None) -> AppOpenOut:
    """Start the app in the kernel if needed and serve it through the app proxy. The answer's
    ``url`` works once: it gives the browser that follows it a permit for this app. In a
    cluster session ``kernel`` (hostname such as sub1, or id) opens it in another kernel than
    main1; that route is the app ``NAME@HOSTNAME``."""
    return await apps.open_app(m, actor, ref, name, body, kernel)


@router.delete("/{ref}/apps/{name}", status_code=204)
async def close_app(ref: str, name: str, actor: ActorDep, m: ManagerDep,
                    kernel: KernelQuery = None) -> None:
    """Close the app's route; its port stops answering. The app keeps running inside."""
    await apps.close_app(m, actor, ref, name, kernel)


@router.get("/{ref}/ssh-key", response_class=PlainTextResponse,
            responses={409: {"description": "The kernel has no key (it could not be made at "
                                   "start); opening the SSH/SFTP app makes one"},
                       **AGENT_ERRORS})
async def ssh_key(ref: str, actor: ActorDep, m: ManagerDep) -> Response:
    """The session's private SSH key (also at /home/work/id_container in the session)."""
    _, key = await apps.ssh_key(m, actor, ref)
    return PlainTextResponse(key, headers={
        "Content-Disposition": 'attachment; filename="id_container"', "Cache-Control": "no-store"})


@router.websocket("/{ref}/terminal")
async def terminal(ws: WebSocket, ref: str, m: ManagerDep,
                   cols: Annotated[int, Query(ge=1, le=1000)] = 80,
                   rows: Annotated[int, Query(ge=1, le=1000)] = 24,
                   kernel: KernelQuery = None) -> None:
    """A shell in the session's main kernel, or in the kernel ``kernel`` names (its id or its
    hostname in a cluster: main1, sub1, ...) (tmux when the image has it). Text frames in:
    ``{"type": "input", "data": ...}`` or ``{"type": "resize", "cols": C, "rows": R}``;
    binary frames out: terminal output; ``{"type": "error", "message": ...}`` before a close
    on failure, with code 4403/4404 (not allowed / no such running session), 4503 (the agent
    is unreachable) or 4504 (the agent did not answer in time, or froze). Owner only; a
    browser authenticates with its login cookie."""
    await ws.accept()
    try:
        actor = await actor_from_websocket(m, ws)
        target, agent_id = await apps.terminal_target(m, actor, ref, cols, rows, kernel)
    except (PermissionError, LookupError, ValueError) as e:  # Forbidden, NotFound, Conflict
        await _fail(ws, 4403 if isinstance(e, PermissionError) else 4404, str(e))
        return
    session_id = await visible_session_id(m, actor, ref)  # its frames are traffic

    def traffic() -> None:
        if session_id is not None:
            m.activity.touch(session_id)

    s = m.settings
    headers = {"Authorization": f"Bearer {s.agent_token}"}
    name = f"agent {agent_id}"
    try:
        # Pings every probe interval: an agent that freezes mid-session ends the relay.
        async with websockets.connect(target, additional_headers=headers, max_size=None,
                                      open_timeout=s.rpc_call_timeout,
                                      ping_interval=s.rpc_probe_interval,
                                      ping_timeout=s.rpc_connect_timeout,
                                      close_timeout=s.rpc_connect_timeout) as agent:
            await _relay(ws, agent, name, traffic)
    except TimeoutError:
        await _fail(ws, 4504, f"{name} did not answer in time (opening the terminal)")
    except (OSError, websockets.WebSocketException) as e:
        await _fail(ws, 4503, f"{name} is unreachable (opening the terminal): {e}")


async def _fail(ws: WebSocket, code: int, message: str) -> None:
    """Tell the browser why (an error frame) and close with ``code``: 4403/4404 as HTTP's
    403/404, 4503/4504 as 503 (agent unreachable) and 504 (agent did not answer)."""
    with contextlib.suppress(Exception):  # the browser may be gone already
        await ws.send_text(json.dumps({"type": "error", "message": message}))
        await ws.close(code)


async def _relay(ws: WebSocket, agent: websockets.ClientConnection, name: str,
                 traffic: Callable[[], None]) -> None:
    """Relay frames both ways; each one is traffic of the session (the idle checks)."""
    async def browser_to_agent() -> None:
        while True:
            message = await ws.receive_text()
            traffic()
            await agent.send(message)

    async def agent_to_browser() -> None:
        try:
            async for message in agent:
                traffic()
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                else:
                    await ws.send_text(message)
        except websockets.ConnectionClosedError as e:  # e.g. no answer to a ping: frozen
            await _fail(ws, 4504, f"{name} stopped answering (terminal): {e}")

    try:
        await until_first_done(browser_to_agent(), agent_to_browser())
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
