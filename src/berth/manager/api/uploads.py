"""Resumable uploads with the tus protocol (1.0.0) at ``/api/uploads``.

The protocol is served by ``tuspyserver``, a maintained FastAPI router (creation, HEAD for the
offset to resume at, PATCH to append, termination); Berth adds the rules around it:

- every request is authenticated (a router dependency, resolved before the body is read);
- ``Upload-Length`` is required (no deferred length) and at most ``upload_max_size``;
  concatenation is refused (it would combine uploads by id);
- creation checks the metadata: ``folder`` (an id of a folder the caller may write),
  ``path`` (the destination inside it, by the explorer's path rules); the upload's id starts
  with a tag of the caller (:func:`user_tag`);
- when the last byte arrives the staged file is moved into the folder by
  :meth:`berth.storage.fs.FolderFS.place` (never through a symbolic link), by the same user.

Staged uploads live in ``<default host>/uploads`` (never mounted into a kernel); unfinished
ones expire after a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from tuspyserver import create_tus_router
from tuspyserver.storage.local import LocalFileStorage

from berth.manager.api.deps import ActorDep, ManagerDep, get_actor
from berth.manager.services import folders as svc
from berth.manager.services.errors import Conflict, Forbidden, NotFound
from berth.settings import ManagerSettings
from berth.storage.fs import FolderFS, FsError, parse_path
from berth.storage.hosts import configured_hosts

PREFIX = "/api/uploads"


UID = re.compile(r"^[0-9a-f]{32}$")
#: Bytes of a PATCH held in memory before they are written (the rest streams through).
BUFFER = 4 * 1024 * 1024
STALE_AFTER = 24 * 3600.0


def user_tag(user_id: str) -> str:
    """The start of the ids of a user's uploads: the upload is placed by that user only."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:8]


async def _file_dep(actor: ActorDep) -> Callable[[dict[str, Any]], dict[str, str] | None]:
    """At creation (called with the metadata): the new upload's id, tagged with its user
    (32 hex digits: 8 of the tag, 96 random bits)."""
    def choose(metadata: dict[str, Any]) -> dict[str, str] | None:
        return {"uid": user_tag(actor.id) + secrets.token_hex(12)} if metadata else None
    return choose


class StagingStorage(LocalFileStorage):
    """tuspyserver's local storage (every syscall in a worker thread), except that a PATCH
    body goes to disk every :data:`BUFFER` bytes through one reused buffer instead of being
    held in memory whole, so the manager's memory stays bounded whatever chunk size a client
    sends. ``flush`` (end of each PATCH) writes the rest and syncs, as upstream does: a
    resumed upload never continues from bytes that are not on disk."""

    def __init__(self, files_dir: str) -> None:
        super().__init__(files_dir)
        self._buffers: dict[str, tuple[bytearray, list[int]]] = {}

    async def append(self, uid: str, chunk: bytes) -> None:
        buf, fill = self._buffers.setdefault(uid, (bytearray(BUFFER), [0]))
        view = memoryview(chunk)
        while view:
            take = min(len(view), BUFFER - fill[0])
            buf[fill[0]:fill[0] + take] = view[:take]
            fill[0] += take
            view = view[take:]
            if fill[0] == BUFFER:
                await asyncio.to_thread(self._write, uid, memoryview(buf), False)
                fill[0] = 0

    async def flush(self, uid: str) -> None:
        buf, fill = self._buffers.pop(uid, (bytearray(), [0]))
        await asyncio.to_thread(self._write, uid, memoryview(buf)[:fill[0]], True)

    async def delete(self, uid: str) -> None:
        self._buffers.pop(uid, None)
        await super().delete(uid)

    @contextlib.asynccontextmanager
    async def lock(self, uid: str) -> AsyncIterator[None]:  # type: ignore[override]
        """Held for a whole PATCH. On entry the data file is cut back to the recorded offset
        (bytes of a PATCH that failed after writing part of its body are dropped, so the
        next one appends where the offset says); on exit the request's buffer goes, whatever
        happened."""
        async with super().lock(uid):
            try:
                info = await self.read_info(uid)
                if info is not None:
                    await asyncio.to_thread(self._cut, uid, int(info.get("offset") or 0))
                yield
            finally:
                self._buffers.pop(uid, None)

    def _cut(self, uid: str, offset: int) -> None:
        with contextlib.suppress(FileNotFoundError), open(self._path(uid), "r+b") as f:
            if os.fstat(f.fileno()).st_size > offset:
                f.truncate(offset)

    def _write(self, uid: str, data: memoryview, sync: bool) -> None:
        with open(self._path(uid), "ab") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())


def sweep(directory: Path, now: float, max_age: float = STALE_AFTER) -> int:
    """Remove staged uploads (and their sidecars) untouched for ``max_age`` seconds: the
    ones a client gave up on. Returns how many files went."""
    removed = 0
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False) and \
                now - entry.stat(follow_symlinks=False).st_mtime > max_age:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


async def _guard(request: Request) -> None:
    """Refuse what Berth does not take: deferred length, concatenation, upload ids that
    Berth did not make."""
    uid = request.url.path.removeprefix(PREFIX).strip("/")
    if uid and not UID.match(uid):
        raise HTTPException(404, "no such upload")
    if request.method == "POST":
        if "upload-concat" in request.headers:
            raise HTTPException(400, "Upload-Concat: concatenated uploads are not supported")
        if "upload-length" not in request.headers:
            raise HTTPException(400, "Upload-Length: required (deferred length is not "
                                "supported)")


def _meta(metadata: dict[str, Any], key: str) -> str:
    value = metadata.get(key)
    if not isinstance(value, str) or not value:
        raise HTTPException(400, f"Upload-Metadata: '{key}' is required")
    return value


async def _writable(m: Any, actor_id: str, folder: str) -> tuple[str, FolderFS]:
    """The folder's id and files, when ``actor_id`` may write there; else an HTTP error."""
    try:
        async with m.db() as db:
            view = await svc.find_folder(db, actor_id, folder, write=True)
        return view.row.id, FolderFS(svc.host_of(m, view.row.host).folder_dir(view.row.id))
    except NotFound as e:
        raise HTTPException(404, f"folder: {e}") from e
    except (Forbidden, Conflict) as e:
        raise HTTPException(403 if isinstance(e, Forbidden) else 409, f"folder: {e}") from e


async def _pre_create(actor: ActorDep, m: ManagerDep
                      ) -> Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]]:
    async def check(metadata: dict[str, Any], info: dict[str, Any]) -> None:
        size = info.get("size")
        if not isinstance(size, int) or size < 0 or size > m.settings.upload_max_size:
            raise HTTPException(413, f"Upload-Length: at most {m.settings.upload_max_size} "
                                "bytes")
        path = _meta(metadata, "path")
        try:
            if not parse_path(path):
                raise HTTPException(400, "path: name the file to create")
        except FsError as e:
            raise HTTPException(400, e.message) from e
        _meta(metadata, "filename"), _meta(metadata, "filetype")  # resuming (HEAD) needs them
        await _writable(m, actor.id, _meta(metadata, "folder"))
        await _sweep_now_and_then(m)
    return check


async def _on_complete(actor: ActorDep, m: ManagerDep
                       ) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    async def place(staged: str, metadata: dict[str, Any]) -> None:
        """Move the finished upload into its folder. Afterwards an empty stand-in and the
        sidecar stay (until swept) with a ``.done`` mark, so a client whose answer to the last
        chunk was lost asks HEAD, learns the upload is complete and does not send it again;
        a repeated completion changes nothing."""
        done = Path(f"{staged}.done")
        if await asyncio.to_thread(done.exists):
            return
        placed = False
        try:
            if not Path(staged).name.startswith(user_tag(actor.id)):
                raise HTTPException(403, "this upload was started by another user")
            folder_id, fs = await _writable(m, actor.id, _meta(metadata, "folder"))
            try:
                await asyncio.to_thread(fs.place, Path(staged), _meta(metadata, "path"))
            except FsError as e:
                raise HTTPException(e.status, e.message) from e
            m.usage.forget(folder_id)
            placed = True
        finally:
            await asyncio.to_thread(_settle, staged, placed)
    return place


def _settle(staged: str, placed: bool) -> None:
    """After a completion: a placed upload leaves an empty stand-in and its done mark (HEAD
    then says complete); a failed one leaves nothing (a retry starts anew)."""
    if placed:
        Path(staged).touch()
        Path(f"{staged}.done").touch()
        return
    for leftover in (staged, f"{staged}.info"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)


_last_sweep = [0.0]


async def _sweep_now_and_then(m: Any) -> None:
    """At most once an hour, on a new upload: drop the stale ones."""
    now = time.time()
    if now - _last_sweep[0] > 3600:
        _last_sweep[0] = now
        await asyncio.to_thread(sweep, staging_dir(m.settings), now)


def staging_dir(settings: ManagerSettings) -> Path:
    host = configured_hosts(settings).get(settings.default_storage_host)
    base = host.uploads_dir if host else settings.data_dir / "uploads"
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    return base


#: Include the router with these: they run before the route's own (the body is not read yet).
DEPENDENCIES = [Depends(get_actor), Depends(_guard)]


def uploads_router(settings: ManagerSettings) -> APIRouter:
    files_dir = str(staging_dir(settings))
    # tuspyserver's hints say the hooks return None; FastAPI resolves our async ones alike.
    hooks: dict[str, Any] = {"pre_create_dep": _pre_create,
                             "upload_complete_dep": _on_complete, "file_dep": _file_dep}
    router: APIRouter = create_tus_router(
        prefix=PREFIX, files_dir=files_dir, max_size=settings.upload_max_size,
        days_to_keep=1, storage=StagingStorage(files_dir), tags=["uploads"], **hooks,
    )
    return router
