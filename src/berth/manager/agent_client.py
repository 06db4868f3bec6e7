"""The manager's side of the agent RPC (see :mod:`berth.rpc`).

Every call is bounded: connecting takes at most ``connect`` seconds (else
:class:`AgentUnreachable`, answered 503), an ordinary call at most ``call`` seconds
(else :class:`AgentTimeout`, answered 504). Calls that may legitimately take long (starting an
app, a log stream) are watched instead: whenever the agent has been silent for ``probe``
seconds, its health endpoint is asked, and an agent that does not answer that within
``connect`` seconds ends the call with :class:`AgentTimeout`. So a frozen agent costs a user
tens of seconds, never minutes or forever, and a slow but alive one is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx

from berth.rpc import (
    AppStarted,
    CommitState,
    CreateKernel,
    CreateKernels,
    DestroyResult,
    StartApp,
    StartCommit,
)

T = TypeVar("T")


class AgentUnreachable(RuntimeError):
    """The agent refused the connection, is down, or answered with an error; ``str()`` names
    the agent and says why. The API answers 503."""

    status_code = 503


class AgentTimeout(AgentUnreachable):
    """The agent accepted the connection but did not answer in time (e.g. frozen). The API
    answers 504."""

    status_code = 504


#: OpenAPI ``responses`` of every route that calls an agent.
AGENT_ERRORS: dict[int | str, dict[str, str]] = {
    503: {"description": "The session's agent is unreachable or refused (the detail names it)"},
    504: {"description": "The session's agent did not answer in time (the detail names it)"},
}


class AppFailed(RuntimeError):
    """The agent could not start an app (or find what was asked); the message says why."""


@dataclass(frozen=True)
class AgentTimeouts:
    """Seconds; see the module docstring. ``app_start`` bounds starting an app in any case."""

    connect: float = 5.0
    call: float = 30.0
    probe: float = 10.0
    app_start: float = 180.0


def who(address: str, agent: str = "") -> str:
    """How errors name an agent: its id and address when the id is known."""
    return f"agent {agent} ({address})" if agent else f"agent at {address}"


#: Connections to agents, all agents together (followed logs hold one each), and how many
#: are kept alive between calls. Calls beyond that wait for a free one (the call timeout).
MAX_CONNECTIONS = 200
KEEPALIVE_CONNECTIONS = 50


class AgentClient:
    """One client for every agent call of the manager: one pool of connections (bounded,
    kept alive), bounded calls, and a failed connect tried again once (every call of the RPC
    is idempotent)."""

    def __init__(self, token: str, timeouts: AgentTimeouts | None = None) -> None:
        self.timeouts = timeouts or AgentTimeouts()
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS,
                              max_keepalive_connections=KEEPALIVE_CONNECTIONS)
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(self.timeouts.call, connect=self.timeouts.connect),
            transport=httpx.AsyncHTTPTransport(limits=limits, retries=1),
        )

    def _error(self, e: Exception, address: str, agent: str, doing: str) -> AgentUnreachable:
        """The exception to raise for an httpx/asyncio failure while ``doing`` something."""
        name = who(address, agent)
        if isinstance(e, httpx.ConnectTimeout | httpx.ConnectError):
            return AgentUnreachable(f"{name} is unreachable ({doing}): {e or type(e).__name__}")
        if isinstance(e, httpx.TimeoutException | TimeoutError):
            return AgentTimeout(f"{name} did not answer in time ({doing})")
        return AgentUnreachable(f"{name} failed ({doing}): {e or type(e).__name__}")

    async def alive(self, address: str) -> bool:
        """Whether the agent answers its health check within the connect timeout."""
        try:
            r = await self.http.get(f"{address}/v1/health", timeout=self.timeouts.connect)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def _watched(self, call: Awaitable[T], address: str, agent: str, doing: str,
                       limit: float) -> T:
        """Await ``call`` for at most ``limit`` s, checking the agent every ``probe`` s of
        waiting; raises AgentTimeout as soon as a check fails."""
        task = asyncio.ensure_future(call)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            while True:
                wait = min(self.timeouts.probe, deadline - loop.time())
                done, _ = await asyncio.wait({task}, timeout=max(wait, 0))
                if done:
                    return task.result()
                if loop.time() >= deadline:
                    raise AgentTimeout(f"{who(address, agent)} did not finish {doing} "
                                       f"within {limit:g} s")
                if not await self.alive(address):
                    raise AgentTimeout(f"{who(address, agent)} stopped answering ({doing}): "
                                       f"its health check got no answer within "
                                       f"{self.timeouts.connect:g} s")
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def create_kernels(self, address: str, specs: Sequence[CreateKernel],
                             agent: str = "") -> None:
        """Ask the agent to create several kernels (one :class:`CreateKernels` request, 1 to
        :data:`~berth.rpc.MAX_KERNELS_PER_BATCH` of them); returns once it accepted them all
        (202). Idempotent per kernel. Raises AgentUnreachable (or AgentTimeout): the request
        as a whole was not taken."""
        body = CreateKernels(kernels=list(specs))
        try:
            r = await self.http.post(
                f"{address}/v1/kernels/batch",
                content=body.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise self._error(e, address, agent, "accepting the kernels") from e

    async def destroy_kernel(self, address: str, kernel_id: str, grace: float,
                             agent: str = "") -> DestroyResult:
        """Stop and remove a kernel. Idempotent; waits up to ``grace`` plus removal time."""
        try:
            r = await self.http.delete(
                f"{address}/v1/kernels/{kernel_id}",
                params={"grace": grace},
                timeout=httpx.Timeout(grace + self.timeouts.call + 30,
                                      connect=self.timeouts.connect),
            )
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise self._error(e, address, agent, "destroying the kernel") from e
        return DestroyResult.model_validate_json(r.content)

    async def logs(
        self, address: str, kernel_id: str, follow: bool, tail: int | None, agent: str = ""
    ) -> AsyncIterator[bytes]:
        """Open a kernel's log stream: returns once the agent answered (within the call
        timeout), with an iterator over the body. Raises KeyError when the agent has no logs,
        AgentUnreachable/AgentTimeout when it cannot be asked. An agent that stops answering
        mid-stream ends the stream with a last line saying so."""
        params: dict[str, str] = {"follow": str(follow).lower()}
        if tail:
            params["tail"] = str(tail)
        request = self.http.build_request(
            "GET", f"{address}/v1/kernels/{kernel_id}/logs", params=params,
            # No read timeout: a followed log may be silent for hours; _body watches instead.
            timeout=httpx.Timeout(None, connect=self.timeouts.connect))
        try:
            async with asyncio.timeout(self.timeouts.call):
                r = await self.http.send(request, stream=True)
        except (httpx.HTTPError, TimeoutError) as e:
            raise self._error(e, address, agent, "sending logs") from e
        if r.status_code == 404:
            await r.aclose()
            raise KeyError(kernel_id)
        if r.is_error:
            await r.aclose()
            raise AgentUnreachable(f"{who(address, agent)} failed (sending logs): "
                                   f"{r.status_code}")
        return self._body(r, address, agent)

    async def _body(self, r: httpx.Response, address: str, agent: str) -> AsyncIterator[bytes]:
        chunks = r.aiter_bytes()
        try:
            while True:
                try:
                    chunk = await self._watched(anext(chunks), address, agent, "sending logs",
                                                float("inf"))
                except StopAsyncIteration:
                    return
                except (AgentUnreachable, httpx.HTTPError) as e:
                    why = e if isinstance(e, AgentUnreachable) else self._error(
                        e, address, agent, "sending logs")
                    yield f"\n[berth] the log ends here: {why}\n".encode()
                    return
                yield chunk
        finally:
            await r.aclose()

    async def start_app(self, address: str, kernel_id: str, req: StartApp,
                        agent: str = "") -> AppStarted:
        """Start an app in a kernel and wait until it answers (at most ``app_start`` s, and
        only while the agent is alive). Raises AppFailed with the agent's reason,
        AgentUnreachable/AgentTimeout when it cannot be asked."""
        doing = f"starting {req.app}"
        call = self.http.post(
            f"{address}/v1/kernels/{kernel_id}/apps", content=req.model_dump_json(),
            headers={"Content-Type": "application/json"},
            timeout=httpx.Timeout(None, connect=self.timeouts.connect))
        try:
            r = await self._watched(call, address, agent, doing, self.timeouts.app_start)
        except httpx.HTTPError as e:
            raise self._error(e, address, agent, doing) from e
        if r.status_code in (404, 409, 501):
            raise AppFailed(r.json().get("detail", r.text))
        if r.is_error:
            raise AgentUnreachable(f"{who(address, agent)} failed ({doing}): {r.text}")
        return AppStarted.model_validate_json(r.content)

    async def ssh_key(self, address: str, kernel_id: str, agent: str = "") -> str:
        """The session's private SSH key. Raises AppFailed when there is none yet."""
        try:
            r = await self.http.get(f"{address}/v1/kernels/{kernel_id}/ssh-key")
        except httpx.HTTPError as e:
            raise self._error(e, address, agent, "sending the SSH key") from e
        if r.status_code in (404, 409, 501):
            raise AppFailed(r.json().get("detail", r.text))
        if r.is_error:
            raise AgentUnreachable(f"{who(address, agent)} failed (sending the SSH key): "
                                   f"{r.status_code}")
        return r.text

    # ---- commit to image (issue 12) ----
    async def _commit_call(self, method: str, address: str, path: str, agent: str, doing: str,
                           body: str | None = None) -> httpx.Response:
        """One commit call; 404/409/501 answers come back for the caller (AppFailed's
        cousins), other failures raise AgentUnreachable/AgentTimeout."""
        try:
            r = await self.http.request(method, f"{address}{path}", content=body, headers={
                "Content-Type": "application/json"} if body else None)
        except httpx.HTTPError as e:
            raise self._error(e, address, agent, doing) from e
        if r.is_error and r.status_code not in (404, 409, 501):
            raise AgentUnreachable(f"{who(address, agent)} failed ({doing}): {r.text}")
        return r

    async def start_commit(self, address: str, kernel_id: str, req: StartCommit,
                           agent: str = "") -> CommitState:
        """Start (idempotent per task id) committing a kernel. Raises AppFailed with the
        agent's reason when it refuses (no such kernel, committing already, no capability)."""
        r = await self._commit_call("POST", address, f"/v1/kernels/{kernel_id}/commit", agent,
                                    "starting a commit", req.model_dump_json())
        if r.is_error:
            raise AppFailed(r.json().get("detail", r.text))
        return CommitState.model_validate_json(r.content)

    async def commit_state(self, address: str, task_id: str, agent: str = "",
                           ) -> CommitState | None:
        """Where a commit task stands; None when the agent does not know it (restarted)."""
        r = await self._commit_call("GET", address, f"/v1/commits/{task_id}", agent,
                                    "reading a commit")
        if r.status_code == 404:
            return None
        if r.is_error:
            raise AppFailed(r.json().get("detail", r.text))
        return CommitState.model_validate_json(r.content)

    async def remove_image(self, address: str, ref: str, agent: str = "") -> None:
        """Remove an image from the agent's node (idempotent). Raises AppFailed with the
        engine's reason when it refuses (e.g. a container uses the image)."""
        r = await self._commit_call("DELETE", address, f"/v1/images/{ref}", agent,
                                    "removing an image")
        if r.is_error:
            raise AppFailed(r.json().get("detail", r.text))

    async def close(self) -> None:
        await self.http.aclose()
