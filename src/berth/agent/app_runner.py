"""Starting apps in kernels and waiting until they answer (the I/O half of ``apps``)."""

from __future__ import annotations

import asyncio
import time

from berth.agent.apps import start_script
from berth.agent.backends.base import BackendError, Exec
from berth.rpc import AppStarted, StartApp

START_TIMEOUT = 30.0
READY_TIMEOUT = 90.0


async def answers(host: str, port: int, protocol: str) -> bool:
    """The service behind ``host:port`` speaks: an HTTP status line, or an SSH banner. (The
    engine accepts connections on a published port even when nothing listens inside, so a
    connect alone proves nothing.)"""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return False
    try:
        if protocol == "http":
            writer.write(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return (await asyncio.wait_for(reader.read(5), 5)) == b"HTTP/"
        return len(await asyncio.wait_for(reader.read(4), 5)) > 0
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def start_app(backend: Exec, kernel_id: str, req: StartApp) -> AppStarted:
    """Run the app's start script (if it has one) and wait until it answers on its published
    port. Raises KeyError (no such kernel) or BackendError (it failed, with its output)."""
    script = start_script(req.app, req.container_port, req.args)
    if script is not None:
        code, output = await backend.exec_script(kernel_id, script, START_TIMEOUT)
        if code != 0:
            raise BackendError(f"{req.app} did not start (exit {code}): {output.strip()[-500:]}")
    elif req.protocol == "preopen":
        # The user's own server: it may come later; say whether it answers now.
        ready = await answers("127.0.0.1", req.host_port, "http")
        detail = "" if ready else f"nothing listens on port {req.container_port} yet"
        return AppStarted(app=req.app, ready=ready, detail=detail)
    deadline = time.monotonic() + READY_TIMEOUT
    while not await answers("127.0.0.1", req.host_port, req.protocol):
        if time.monotonic() > deadline:
            _, log = await backend.exec_script(
                kernel_id, f"tail -c 1500 /tmp/berth-apps/{req.app}.log 2>/dev/null", 10)
            raise BackendError(f"{req.app} did not answer within {READY_TIMEOUT:.0f} s: "
                               f"{log.strip()}")
        await asyncio.sleep(0.3)
    return AppStarted(app=req.app, ready=True)
