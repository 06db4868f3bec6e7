"""The agent process: an RPC server for the manager plus a heartbeat loop and a live-usage
loop (:mod:`berth.agent.usage_loop`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request, WebSocket, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import ValidationError

from berth import __version__, rpc
from berth.agent.app_runner import start_app
from berth.agent.apps import SSH_KEY_PATH, terminal_command
from berth.agent.backends.base import BackendError, ContainerBackend, Exec, Terminal
from berth.agent.backends.docker import DockerBackend
from berth.agent.commits import add_commit_routes, start_commits
from berth.agent.devices import Accelerators
from berth.agent.node import BeatBuilder, Node
from berth.agent.usage_loop import start_usage_loop
from berth.aio import until_first_done
from berth.rpc import (
    MAX_EVENTS_PER_POST,
    AppStarted,
    CreateKernel,
    CreateKernels,
    DestroyResult,
    KernelEvent,
    KernelEvents,
    M,
    StartApp,
)
from berth.settings import AgentSettings

log = logging.getLogger(__name__)


def host_capacity(settings: AgentSettings, devices: Accelerators | None = None
                  ) -> dict[str, str]:
    """What the agent offers: ``cpu`` (default: its cpuset's cores, else every host core),
    ``mem`` (default: the host's memory) and the slots of ``devices``' plugins that found
    devices (``cuda.device``, ``mock-gpu.shares``, ...; call after ``devices.start()``)."""
    cpu = settings.cpu
    if cpu is None:
        cpu = float(len(settings.cpus()) or os.cpu_count() or 1)
    mem = settings.mem
    if mem is None:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": str(cpu), "mem": str(mem), **(devices.capacity() if devices else {})}


#: Kernel events waiting for a post, at most: a burst beyond this drops the oldest (logged),
#: and the next heartbeat repairs what a dropped event said.
EVENT_QUEUE = 10_000
#: Tries of one post (a 5xx answer or no answer) before its events are dropped (the next
#: heartbeat repairs them), EVENT_RETRY_DELAY seconds apart, doubling; a 4xx is not retried.
EVENT_TRIES = 3
EVENT_RETRY_DELAY = 1.0
#: Waiting for a connection of the events' own client (one sender: never long).
EVENT_WAIT = 30.0


def manager_client(settings: AgentSettings, token: str, connections: int,
                   pool_wait: float) -> httpx.AsyncClient:
    """A client for the manager with its own bounded pool of kept-alive connections, call
    timeouts, and retries of a failed connect (e.g. while the manager restarts)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=settings.manager_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=httpx.Timeout(30.0, connect=5.0, pool=pool_wait),
        transport=httpx.AsyncHTTPTransport(limits=limits, retries=2),
    )


class HttpReporter:
    """Posts kernel events to the manager in batches (:class:`KernelEvents`), oldest first.

    :meth:`event` only queues (it never waits for the manager); one sender task posts what
    has gathered, at most :data:`MAX_EVENTS_PER_POST` a post, and while a post is in flight
    new events gather for the next one, so a burst costs a post per batch, not per kernel,
    and a lone event goes out at once. One queue and one sender keep the order: a kernel's
    ``started`` is never posted after its ``exited``.

    Nothing is kept forever: the queue holds at most ``limit`` events (the oldest is dropped
    and logged), a post is tried ``tries`` times and then dropped (logged); the next heartbeat
    carries every fact a dropped event said. Call :meth:`start` in a running loop and
    :meth:`close` at shutdown (it waits briefly for what is queued, then stops the sender).
    """

    def __init__(self, client: httpx.AsyncClient, agent_id: str, limit: int = EVENT_QUEUE,
                 tries: int = EVENT_TRIES, retry_delay: float = EVENT_RETRY_DELAY) -> None:
        self.client = client
        self.agent_id = agent_id
        self.limit = limit
        self.tries = tries
        self.retry_delay = retry_delay
        self.queue: collections.deque[KernelEvent] = collections.deque()
        #: Events dropped from the full queue since the sender last said so.
        self.dropped = 0
        self._ready = asyncio.Event()  # set: something is queued
        self._idle = asyncio.Event()  # set: nothing queued and no post in flight
        self._idle.set()
        self._sender: asyncio.Task[None] | None = None

    async def event(self, event: KernelEvent) -> None:
        """Queue ``event`` for the next post; never raises, never waits for the manager."""
        if len(self.queue) >= self.limit:
            lost = self.queue.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning("kernel event queue full (%d): dropping the oldest events, first "
                            "%s of %s (the next heartbeat repairs them)", self.limit,
                            lost.kind, lost.kernel.kernel_id)
        self.queue.append(event)
        self._idle.clear()
        self._ready.set()

    def start(self) -> None:
        """Start the sender (in the running loop); idempotent."""
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_forever(), name="kernel-events")

    async def close(self, wait: float = 5.0) -> None:
        """Give the sender up to ``wait`` seconds to post what is queued, then stop it (what
        is left is the next heartbeat's to repair)."""
        if self._sender is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), wait)
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
        self._sender = None
        if self.queue:
            log.warning("%d kernel events not posted at shutdown", len(self.queue))

    async def _send_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self.queue:
                n = min(len(self.queue), MAX_EVENTS_PER_POST)
                batch = [self.queue.popleft() for _ in range(n)]
                if self.dropped:
                    log.warning("dropped %d kernel events from the full queue", self.dropped)
                    self.dropped = 0
                try:
                    await self._post(batch)
                except Exception:  # the sender must outlive any one batch
                    log.exception("posting %d kernel events failed", len(batch))
            if not self.queue:
                self._idle.set()

    async def _post(self, batch: list[KernelEvent]) -> None:
        """Post ``batch``: retried after a 5xx or no answer, dropped after ``tries`` tries or
        a 4xx, never raises (a cancelled post propagates)."""
        body = KernelEvents(agent_id=self.agent_id, events=batch).model_dump_json()
        delay = self.retry_delay
        for attempt in range(1, self.tries + 1):
            try:
                r = await self.client.post("/api/agent/v1/events", content=body)
                r.raise_for_status()
                return
            except httpx.HTTPStatusError as e:
                error: Exception = e
                if e.response.status_code < 500:
                    break
            except httpx.HTTPError as e:
                error = e
            if attempt < self.tries:
                log.info("posting %d kernel events failed (try %d of %d): %s", len(batch),
                         attempt, self.tries, error)
                await asyncio.sleep(delay)
                delay *= 2
        first = batch[0]
        log.warning("could not report %d kernel events (first: %s of %s): %s", len(batch),
                    first.kind, first.kernel.kernel_id, error)


def agent_info(settings: AgentSettings) -> dict[str, str]:
    """What the heartbeat says about the agent beyond its capacity (``Heartbeat.info``)."""
    return {"port_range": settings.port_range, "cpuset": settings.cpuset,
            "backend": settings.backend}


async def heartbeat_loop(node: Node, client: httpx.AsyncClient, settings: AgentSettings) -> None:
    """Post a heartbeat every ``heartbeat_interval`` seconds: a delta relative to the beat
    the manager last acknowledged, or a full one (:class:`BeatBuilder` decides); a full one
    at once when the manager refused a delta."""
    address = f"http://{settings.host}:{settings.port}"
    capacity = host_capacity(settings, node.devices)
    info = agent_info(settings)
    beats = BeatBuilder(settings.heartbeat_full_every)
    while True:
        again = False
        try:
            beat = await node.heartbeat(address, settings.resource_group, capacity, __version__,
                                        info, beats)
            r = await client.post("/api/agent/v1/heartbeat", content=beat.model_dump_json())
            r.raise_for_status()
            again = beats.answered(rpc.parse(rpc.HeartbeatReply, r.content))
        except Exception as e:  # the loop must survive a manager that is down or restarting
            beats.failed()
            log.warning("heartbeat failed: %s", e)
        if again:
            log.info("heartbeat %d: the manager asks for a full one", beat.seq)
        else:
            await asyncio.sleep(settings.heartbeat_interval)


def make_backend(settings: AgentSettings) -> ContainerBackend:
    if settings.backend == "docker":
        return DockerBackend(settings.id, settings.pids_limit, port_range=settings.port_range,
                             cpuset=settings.cpuset)
    if settings.backend == "fake":
        from berth.agent.backends.fake import FakeBackend

        return FakeBackend(settings.id, mode=settings.fake_mode)
    raise ValueError(f"agent backend must be 'docker' or 'fake', not {settings.backend!r}")


async def read_message(request: Request, model: type[M]) -> M:
    """The manager's message in ``request``'s body, its RPC version checked first: another
    version is a 400 naming both versions, a malformed body a 422."""
    try:
        return rpc.parse(model, await request.body())
    except rpc.VersionMismatch as e:
        raise HTTPException(400, str(e)) from e
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_input=False)) from e


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def create_agent_app(settings: AgentSettings, backend: ContainerBackend | None = None,
                     accelerators: Accelerators | None = None) -> FastAPI:
    """The agent's app; ``backend`` and ``accelerators`` replace what ``settings`` would
    build (tests)."""
    token = settings.resolved_token()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Kernel events: one sender, so one connection (posts carry batches).
        client = manager_client(settings, token, 1, EVENT_WAIT)
        reporter = HttpReporter(client, settings.id)
        # Heartbeats have a connection of their own: a burst of events never delays them.
        beats = manager_client(settings, token, 1, 30.0)
        engine = backend or make_backend(settings)
        devices = accelerators if accelerators is not None else Accelerators.from_settings(settings)
        await devices.start()  # discovery before restore: held devices must be known ones
        reporter.start()  # before the node: restoring its kernels may report events
        node = Node(settings.id, engine, reporter, settings.data_dir, devices)
        await node.start()
        app.state.node = node
        app.state.commits = await start_commits(engine)
        beat = asyncio.create_task(heartbeat_loop(node, beats, settings))
        # Usage rounds have a connection of their own too (one request per round).
        usage_client = manager_client(settings, token, 1, 30.0)
        usage = start_usage_loop(settings.id, node, usage_client, settings.usage_interval)
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if usage is not None:
                usage[0].cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await usage[0]
                usage[1].close()
            await usage_client.aclose()
            if app.state.commits is not None:
                await app.state.commits.close()
            await node.close()
            await reporter.close()  # what the node reported until now, briefly
            # Kernels keep running (and keep their devices, MPS daemons included).
            await devices.close()
            await engine.close()
            await client.aclose()
            await beats.aclose()

    def authorized(authorization: Annotated[str, Header()] = "") -> None:
        if not secrets.compare_digest(authorization, f"Bearer {token}"):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "agent token required")

    app = FastAPI(title="Berth agent", lifespan=lifespan, dependencies=[Depends(authorized)])

    @app.get("/v1/health")
    async def health(node: NodeDep) -> dict[str, str]:
        return {"agent_id": node.agent_id, "version": __version__}

    @app.post("/v1/kernels", status_code=202)
    async def create_kernel(request: Request, node: NodeDep) -> dict[str, str]:
        spec = await read_message(request, CreateKernel)
        node.accept(spec)
        return {"kernel_id": spec.kernel_id}

    @app.post("/v1/kernels/batch", status_code=202)
    async def create_kernels(request: Request, node: NodeDep) -> dict[str, list[str]]:
        """Several kernels at once (:class:`CreateKernels`), each accepted as if alone."""
        batch = await read_message(request, CreateKernels)
        for spec in batch.kernels:
            node.accept(spec)
        return {"kernel_ids": [spec.kernel_id for spec in batch.kernels]}

    @app.delete("/v1/kernels/{kernel_id}")
    async def destroy_kernel(kernel_id: str, node: NodeDep, grace: float = 10.0) -> DestroyResult:
        return await node.destroy(kernel_id, grace)

    @app.get("/v1/kernels/{kernel_id}/logs")
    async def kernel_logs(
        kernel_id: str, node: NodeDep, follow: bool = False, tail: int | None = None
    ) -> StreamingResponse:
        stream = node.logs(kernel_id, follow, tail)
        try:
            first = await anext(stream)
        except KeyError as e:
            raise HTTPException(404, "no logs for this kernel") from e
        except StopAsyncIteration:
            first = b""

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in stream:
                yield chunk

        return StreamingResponse(body(), media_type="text/plain; charset=utf-8")

    def exec_backend(node: Node) -> Exec:
        if not isinstance(node.backend, Exec):
            raise HTTPException(501, "this agent's backend cannot run commands in kernels")
        return node.backend

    @app.post("/v1/kernels/{kernel_id}/apps")
    async def kernel_start_app(kernel_id: str, request: Request, node: NodeDep) -> AppStarted:
        req = await read_message(request, StartApp)
        try:
            return await start_app(exec_backend(node), kernel_id, req)
        except KeyError as e:
            raise HTTPException(404, "no such kernel on this agent") from e
        except BackendError as e:
            raise HTTPException(409, str(e)) from e

    @app.get("/v1/kernels/{kernel_id}/ssh-key", response_class=PlainTextResponse)
    async def kernel_ssh_key(kernel_id: str, node: NodeDep) -> str:
        try:
            code, key = await exec_backend(node).exec_script(
                kernel_id, f"cat {SSH_KEY_PATH}", 10)
        except KeyError as e:
            raise HTTPException(404, "no such kernel on this agent") from e
        except BackendError as e:
            raise HTTPException(409, str(e)) from e
        if code != 0 or "PRIVATE KEY" not in key:
            raise HTTPException(
                404,
                "this kernel has no SSH key (it could not be made at start; opening the "
                "SSH/SFTP app makes one)",
            )
        return key

    @app.websocket("/v1/kernels/{kernel_id}/terminal")
    async def kernel_terminal(ws: WebSocket, kernel_id: str, cols: int = 80,
                              rows: int = 24) -> None:
        await ws.accept()
        node: Node = ws.app.state.node
        try:
            if not isinstance(node.backend, Exec):
                raise BackendError("this agent's backend cannot open terminals")
            term = await node.backend.open_terminal(kernel_id, terminal_command(), cols, rows)
        except (KeyError, BackendError) as e:
            message = "no such kernel" if isinstance(e, KeyError) else str(e)
            await ws.send_text(json.dumps({"type": "error", "message": message}))
            await ws.close(1011)
            return
        await relay_terminal(ws, term)

    add_commit_routes(app)
    return app


async def relay_terminal(ws: WebSocket, term: Terminal) -> None:
    """Copy terminal output to ``ws`` and ``ws``'s input/resize messages to the terminal
    until either side ends."""

    async def output() -> None:
        while data := await term.read():
            await ws.send_bytes(data)

    async def incoming() -> None:
        while True:
            try:
                message = json.loads(await ws.receive_text())
            except ValueError:
                continue
            if message.get("type") == "input" and isinstance(message.get("data"), str):
                await term.write(message["data"].encode())
            elif message.get("type") == "resize":
                with contextlib.suppress(Exception):
                    await term.resize(int(message.get("cols", 80)), int(message.get("rows", 24)))

    try:
        await until_first_done(output(), incoming())
    finally:
        await term.close()
        with contextlib.suppress(Exception):
            await ws.close()
