"""Looking inside kernels from tests, through the Docker Engine API (never the CLI)."""

from __future__ import annotations

from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

from cluster import run_async


def _run(coro_fn: Any) -> Any:
    async def go() -> Any:
        docker = aiodocker.Docker()
        try:
            return await coro_fn(docker)
        finally:
            await docker.close()
    return run_async(go())


def exec_in(container_id: str, *cmd: str) -> str:
    """Run a command in the container as the kernel user; return stdout+stderr."""
    async def go(docker: aiodocker.Docker) -> str:
        container = await docker.containers.get(container_id)
        execution = await container.exec(cmd=list(cmd), stdout=True, stderr=True)
        out = b""
        async with execution.start(detach=False) as stream:
            while (msg := await stream.read_out()) is not None:
                out += msg.data
        return out.decode()
    result: str = _run(go)
    return result


def inspect(container_id: str) -> dict[str, Any] | None:
    async def go(docker: aiodocker.Docker) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = await (await docker.containers.get(container_id)).show()
            return data
        except DockerError as e:
            if e.status == 404:
                return None
            raise
    result: dict[str, Any] | None = _run(go)
    return result


def kill(container_id: str, signal: str = "SIGKILL") -> None:
    async def go(docker: aiodocker.Docker) -> None:
        await (await docker.containers.get(container_id)).kill(signal=signal)
    _run(go)
