"""The manager's side of the agent RPC (see :mod:`berth.rpc`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from berth.rpc import CreateKernel, DestroyResult


class AgentUnreachable(RuntimeError):
    """The agent did not answer or refused; the message says why."""


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

    async def close(self) -> None:
        await self.http.aclose()
