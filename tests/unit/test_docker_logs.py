"""DockerBackend.logs when the engine removes the container under it (a batch kernel that just
ended): the caller gets KeyError (and reads the saved file), never the engine's error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiodocker.exceptions import DockerError

from berth.agent.backends.docker import DockerBackend


class GoneContainer:
    """Found by the lookup, removed before its logs are read."""

    def __init__(self, status: int, after: list[str] | None = None) -> None:
        self.status = status
        self.after = after or []

    def log(self, **kwargs: Any) -> Any:
        if kwargs.get("follow"):
            return self._follow()
        raise DockerError(self.status, {"message": "no such container"})

    async def _follow(self) -> AsyncIterator[str]:
        for line in self.after:
            yield line
        raise DockerError(self.status, {"message": "no such container"})


@pytest.fixture
async def backend() -> AsyncIterator[DockerBackend]:
    b = DockerBackend("agent-x")  # no engine call is made: its lookup is replaced below
    yield b
    await b.close()


def finds(backend: DockerBackend, container: GoneContainer) -> None:
    async def get(_: str) -> GoneContainer:
        return container
    backend._get = get  # type: ignore[assignment,method-assign]


async def read(backend: DockerBackend, follow: bool) -> bytes:
    return b"".join([c async for c in backend.logs("k1", follow=follow, tail=None)])


@pytest.mark.parametrize("status", [404, 409])
@pytest.mark.parametrize("follow", [False, True])
async def test_a_container_removed_before_reading_is_a_missing_one(
        backend: DockerBackend, status: int, follow: bool) -> None:
    finds(backend, GoneContainer(status))
    with pytest.raises(KeyError):
        await read(backend, follow)


async def test_a_container_removed_while_followed_ends_the_stream(
        backend: DockerBackend) -> None:
    finds(backend, GoneContainer(404, after=["line 1\n", "line 2\n"]))
    assert await read(backend, True) == b"line 1\nline 2\n"


async def test_other_engine_errors_are_not_hidden(backend: DockerBackend) -> None:
    finds(backend, GoneContainer(500))
    with pytest.raises(DockerError):
        await read(backend, False)
