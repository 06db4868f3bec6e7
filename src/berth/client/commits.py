"""Commit to image (issue 12) in the SDK: save a RUNNING interactive session as a customized
image, follow the task, list and remove customized images. Mixed into
:class:`~berth.client.Client` (:class:`CommitMethods`) and
:class:`~berth.client.AsyncClient` (:class:`AsyncCommitMethods`); :data:`COMMIT_OPERATIONS`
is part of :data:`berth.client.operations.OPERATIONS`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

Call = tuple[str, str, dict[str, Any]]

COMMIT_OPERATIONS: dict[str, str] = {
    "POST /api/sessions/{ref}/commit": "commit_session",
    "GET /api/sessions/{ref}/commits": "session_commits",
    "GET /api/commits/{commit_id}": "get_commit",
    "GET /api/customized-images": "customized_images",
    "DELETE /api/customized-images/{ref}": "remove_customized_image",
}
#: Task statuses after which nothing changes.
FINISHED = frozenset({"done", "failed"})


def _seg(value: str) -> str:
    return quote(value, safe="")


def commit_session(ref: str, name: str) -> Call:
    return "POST", f"/api/sessions/{_seg(ref)}/commit", {"json": {"name": name}}


def session_commits(ref: str) -> Call:
    return "GET", f"/api/sessions/{_seg(ref)}/commits", {}


def get_commit(commit_id: str) -> Call:
    return "GET", f"/api/commits/{_seg(commit_id)}", {}


def customized_images(everyone: bool) -> Call:
    return "GET", "/api/customized-images", {"params": {"everyone": "true"} if everyone else {}}


def remove_customized_image(ref: str) -> Call:
    # The image's full name has '/' and ':', both kept in the path (the route takes a path).
    return "DELETE", f"/api/customized-images/{quote(ref, safe='/:')}", {}


class CommitMethods:
    """For :class:`~berth.client.Client`."""

    if TYPE_CHECKING:
        def _do(self, call: Call) -> Any: ...

    def commit_session(self, ref: str, name: str) -> dict[str, Any]:
        """Start saving the session as your customized image ``name``; the task (CommitOut)."""
        result: dict[str, Any] = self._do(commit_session(ref, name))
        return result

    def session_commits(self, ref: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._do(session_commits(ref))
        return result

    def get_commit(self, commit_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(get_commit(commit_id))
        return result

    def wait_commit(self, commit_id: str, timeout: float = 3600, interval: float = 0.5,
                    progress: Callable[[dict[str, Any]], None] | None = None
                    ) -> dict[str, Any]:
        """Poll the task until it is done or failed (``progress`` hears each reading);
        raises TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_commit(commit_id)
            if progress is not None:
                progress(task)
            if task["status"] in FINISHED:
                return task
            if time.monotonic() > deadline:
                raise TimeoutError(f"commit {commit_id} did not end within {timeout:g} s")
            time.sleep(interval)

    def customized_images(self, everyone: bool = False) -> list[dict[str, Any]]:
        """Your customized images (admins with ``everyone``: all users')."""
        result: list[dict[str, Any]] = self._do(customized_images(everyone))
        return result

    def remove_customized_image(self, ref: str) -> None:
        self._do(remove_customized_image(ref))


class AsyncCommitMethods:
    """As :class:`CommitMethods`, awaited, for :class:`~berth.client.AsyncClient`."""

    if TYPE_CHECKING:
        async def _do(self, call: Call) -> Any: ...

    async def commit_session(self, ref: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(commit_session(ref, name))
        return result

    async def session_commits(self, ref: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._do(session_commits(ref))
        return result

    async def get_commit(self, commit_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(get_commit(commit_id))
        return result

    async def customized_images(self, everyone: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._do(customized_images(everyone))
        return result

    async def remove_customized_image(self, ref: str) -> None:
        await self._do(remove_customized_image(ref))
