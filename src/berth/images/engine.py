"""The few Docker Engine API calls the image builder needs, over aiodocker.

The engine is reached through ``aiodocker.Docker()``, which honours ``DOCKER_HOST`` and
otherwise uses the default unix socket. Endpoints aiodocker does not wrap (image import from
a tar body) go through its raw query method.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

import aiodocker
from aiodocker.exceptions import DockerError

_CHUNK = 1 << 20
_LOG_TAIL = 40
#: The classic builder prints " ---> <short id>" for the image each step results in.
_STEP_RESULT = re.compile(r"^ ---> ([0-9a-f]{12})$")


class EngineError(RuntimeError):
    """An engine operation failed; ``log_tail`` holds the last lines of its output."""

    def __init__(self, message: str, log_tail: Iterable[str] = ()) -> None:
        self.log_tail = list(log_tail)
        detail = "".join(f"\n  | {line}" for line in self.log_tail)
        super().__init__(message + detail)


async def image_inspect(docker: aiodocker.Docker, ref: str) -> dict[str, Any] | None:
    """The engine's inspect document for image ``ref``, or None when it does not exist."""
    try:
        result: dict[str, Any] = await docker.images.inspect(ref)
    except DockerError as exc:
        if exc.status == 404:
            return None
        raise
    return result


def image_labels(inspect: dict[str, Any] | None) -> dict[str, str]:
    """Labels from an inspect document ({} when there is no image or no labels)."""
    if not inspect:
        return {}
    return dict((inspect.get("Config") or {}).get("Labels") or {})


async def remove_image_quietly(docker: aiodocker.Docker, ref: str) -> bool:
    """Remove image ``ref`` if nothing uses it; True when removed. Never raises DockerError."""
    try:
        await docker.images.delete(ref)
    except DockerError:
        return False
    return True


async def prune_dangling(
    docker: aiodocker.Docker, label: str, *, created_before: float, keep: Collection[str]
) -> int:
    """Remove untagged images carrying ``label`` created before ``created_before`` (epoch s),
    except those whose short id is in ``keep``.

    These are the builder's leftovers: images whose tag moved to a rebuild, and the last
    image of each intermediate build stage. Images still used by containers stay. Returns
    how many were removed; never raises DockerError for a single image.
    """
    leftovers = await docker.images.list(filters={"dangling": ["true"], "label": [label]})
    removed = 0
    for image in sorted(leftovers, key=lambda i: -int(i.get("Created", 0))):
        short_id = str(image["Id"]).removeprefix("sha256:")[:12]
        if int(image.get("Created", 0)) < created_before and short_id not in keep:
            removed += await remove_image_quietly(docker, image["Id"])
    return removed


async def _read_file_chunks(f: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(f.read, _CHUNK):
        yield chunk


async def import_rootfs(
    docker: aiodocker.Docker, tar_path: Path, tag: str, changes: list[str]
) -> str:
    """Import a root filesystem tar as image ``tag`` (``POST /images/create?fromSrc=-``).

    ``changes`` are Dockerfile instructions applied to the image config (ENV, LABEL, CMD...).
    Returns the engine's answer (the new image id). Raises EngineError on failure.
    """
    repo, _, version = tag.rpartition(":")
    query = urlencode(
        [("fromSrc", "-"), ("repo", repo), ("tag", version)] + [("changes", c) for c in changes]
    )
    with tar_path.open("rb") as f:
        async with docker._query(
            f"images/create?{query}",
            "POST",
            data=_read_file_chunks(f),
            headers={"Content-Type": "application/x-tar"},
            chunked=True,
        ) as response:
            body = await response.text()
    messages = [json.loads(line) for line in body.splitlines() if line.strip()]
    for message in messages:
        if "error" in message:
            raise EngineError(f"import of {tag} failed: {message['error']}")
    return str(messages[-1].get("status", "")) if messages else ""


async def build_image(
    docker: aiodocker.Docker,
    context_tar: Path,
    tag: str,
    *,
    labels: dict[str, str],
    buildargs: dict[str, str],
    nocache: bool = False,
    progress: Callable[[str], None] = print,
) -> set[str]:
    """Build ``tag`` from an uncompressed tar build context with the engine's builder.

    Returns the short (12 hex digit) ids of every image the build produced or reused from
    the engine's cache, intermediate stages included. Only the ``Step n/m`` lines are passed
    to ``progress``; the last lines of the output are attached to the EngineError raised
    when the build fails.
    """
    tail: deque[str] = deque(maxlen=_LOG_TAIL)
    used: set[str] = set()
    with context_tar.open("rb") as f:
        try:
            stream = docker.images.build(
                fileobj=f,
                encoding="identity",
                tag=tag,
                labels=labels,
                buildargs=buildargs,
                nocache=nocache,
                rm=True,
                forcerm=True,
                stream=True,
            )
            async for item in stream:
                if "error" in item:
                    raise EngineError(f"build of {tag} failed: {item['error']}", tail)
                for line in str(item.get("stream", "")).splitlines():
                    if match := _STEP_RESULT.match(line):
                        used.add(match.group(1))
                    if line.strip():
                        tail.append(line)
                        if line.startswith("Step "):
                            progress(f"  {line}")
        except DockerError as exc:
            raise EngineError(f"build of {tag} failed: {exc.message}", tail) from exc
    return used
