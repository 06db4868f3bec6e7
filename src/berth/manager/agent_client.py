"""The manager's side of the agent RPC (see :mod:`berth.rpc`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from berth.rpc import AppStarted, CreateKernel, DestroyResult, StartApp


class AgentUnreachable(RuntimeError):
    """The agent did not answer or refused; the message says why."""


class AppFailed(RuntimeError):
    """The agent could not start an app (or find what was asked); the message says why."""


class AgentClient:
    def __init__(self, token: str) -> None:
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30, connect=5),
        )

    async def create_kernel(self, address: str, spec: CreateKernel) -> None:
        """Ask the agent to create a kernel; returns once accepted (202). Idempotent."""
        try:
            r = await self.http.post(
                f"{address}/v1/kernels",
                content=spec.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise AgentUnreachable(f"agent at {address} did not accept the kernel: {e}") from e

    async def destroy_kernel(self, address: str, kernel_id: str, grace: float) -> DestroyResult:
        """Stop and remove a kernel. Idempotent; waits up to ``grace`` plus removal time."""
        try:
            r = await self.http.delete(
                f"{address}/v1/kernels/{kernel_id}",
                params={"grace": grace},
                timeout=grace + 60,
            )
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise AgentUnreachable(f"agent at {address} did not destroy the kernel: {e}") from e
        return DestroyResult.model_validate_json(r.content)

    async def logs(
        self, address: str, kernel_id: str, follow: bool, tail: int | None
    ) -> AsyncIterator[bytes]:
        """Stream a kernel's logs. Raises KeyError when the agent has none."""
        params: dict[str, str] = {"follow": str(follow).lower()}
        if tail:
            params["tail"] = str(tail)
        try:
            async with self.http.stream(
                "GET", f"{address}/v1/kernels/{kernel_id}/logs", params=params, timeout=None
            ) as r:
                if r.status_code == 404:
                    raise KeyError(kernel_id)
                r.raise_for_status()
                async for chunk in r.aiter_bytes():
                    yield chunk
        except httpx.HTTPError as e:
            raise AgentUnreachable(f"agent at {address} did not send logs: {e}") from e

    async def start_app(self, address: str, kernel_id: str, req: StartApp) -> AppStarted:
        """Start an app in a kernel and wait until it answers. Raises AppFailed with the
        agent's reason, AgentUnreachable when it cannot be asked."""
        try:
            r = await self.http.post(
                f"{address}/v1/kernels/{kernel_id}/apps", content=req.model_dump_json(),
                headers={"Content-Type": "application/json"}, timeout=180,
            )
        except httpx.HTTPError as e:
            raise AgentUnreachable(f"agent at {address} did not start {req.app}: {e}") from e
        if r.status_code in (404, 409, 501):
            raise AppFailed(r.json().get("detail", r.text))
        if r.is_error:
            raise AgentUnreachable(f"agent at {address} failed to start {req.app}: {r.text}")
        return AppStarted.model_validate_json(r.content)

    async def ssh_key(self, address: str, kernel_id: str) -> str:
        """The session's private SSH key. Raises AppFailed when there is none yet."""
        try:
            r = await self.http.get(f"{address}/v1/kernels/{kernel_id}/ssh-key")
        except httpx.HTTPError as e:
            raise AgentUnreachable(f"agent at {address} did not send the key: {e}") from e
        if r.status_code in (404, 409, 501):
            raise AppFailed(r.json().get("detail", r.text))
        r.raise_for_status()
        return r.text

    async def close(self) -> None:
        await self.http.aclose()
