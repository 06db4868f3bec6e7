"""The file explorer: list, download (a file with HTTP Range, a directory as a streamed zip),
new folder, move/rename, delete; uploads through the tus protocol (:mod:`.uploads`).

Every operation goes through :class:`berth.storage.fs.FolderFS`, which never follows a
symbolic link and resolves each path relative to an open directory; file I/O runs in worker
threads. Downloads are always attachments of type application/octet-stream with nosniff and a
sandbox CSP: a file a session wrote must never render as a page of the manager's origin.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from berth.domain import limits as lim
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.context import Manager
from berth.manager.schemas_storage import EntryOut, FileList, MkdirIn, MoveIn
from berth.manager.services import folders as svc
from berth.storage.fs import Entry, FolderFS
from berth.storage.ranges import RangeNotSatisfiable, parse_range
from berth.storage.zipstream import zip_chunks

router = APIRouter(prefix="/api/folders", tags=["files"])
CHUNK = 1024 * 1024
PathQuery = Annotated[str, Query(max_length=lim.FILE_PATH_MAX,
                                 description="Relative to the folder's root; '' is the root.")]
Responses = dict[int | str, dict[str, Any]]
ERRORS: Responses = {400: {"description": "A path that is not allowed (e.g. '..', a symbolic "
                           "link)"}, 404: {"description": "No such folder or file"},
                     409: {"description": "Exists already, or a directory is not empty"}}
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "no-store"}


async def folder_fs(m: Manager, actor_id: str, ref: str, write: bool = False
                    ) -> tuple[svc.FolderView, FolderFS]:
    async with m.db() as db:
        view = await svc.find_folder(db, actor_id, ref, write=write)
    return view, FolderFS(svc.host_of(m, view.row.host).folder_dir(view.row.id))


def shown(name: str) -> str:
    """A name from disk as JSON can carry it: bytes that are not UTF-8 (a session may make
    such names) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def entry_out(e: Entry) -> EntryOut:
    return EntryOut(name=shown(e.name), path=shown(e.path), type=e.type, size=e.size,
                    modified=e.modified, mode=e.mode)


@router.get("/{folder}/files", responses=ERRORS)
async def list_files(
    folder: str, actor: ActorDep, m: ManagerDep, path: PathQuery = "",
    sort: Literal["name", "size", "modified", "type"] = "name",
    order: Literal["asc", "desc"] = "asc",
    offset: Annotated[int, Query(ge=0, le=lim.LIST_OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=lim.FILE_LIST_LIMIT_MAX)] = 100,
) -> FileList:
    """One page of a directory: name, type, size, time; directories first by name or type."""
    _, fs = await folder_fs(m, actor.id, folder)
    total, entries = await asyncio.to_thread(fs.list, path, sort, order, offset, limit)
    return FileList(path=path, total=total, offset=offset, limit=limit,
                    entries=[entry_out(e) for e in entries])


@router.post("/{folder}/mkdir", status_code=201, responses=ERRORS)
async def make_directory(folder: str, body: MkdirIn, actor: ActorDep, m: ManagerDep) -> EntryOut:
    """Create a directory (owned by the kernels' user)."""
    view, fs = await folder_fs(m, actor.id, folder, write=True)
    m.usage.forget(view.row.id)
    return entry_out(await asyncio.to_thread(fs.mkdir, body.path, body.parents))


@router.post("/{folder}/move", responses=ERRORS)
async def move_file(folder: str, body: MoveIn, actor: ActorDep, m: ManagerDep) -> EntryOut:
    """Rename or move a file or directory inside the folder (never over an existing one)."""
    _, fs = await folder_fs(m, actor.id, folder, write=True)
    return entry_out(await asyncio.to_thread(fs.move, body.src, body.dst))


@router.delete("/{folder}/files", status_code=204, responses=ERRORS)
async def delete_file(
    folder: str, actor: ActorDep, m: ManagerDep, path: PathQuery,
    recursive: Annotated[bool, Query(description="Delete a directory with everything in "
                                     "it.")] = False,
) -> None:
    """Delete a file, a symbolic link (not what it points to) or a directory."""
    view, fs = await folder_fs(m, actor.id, folder, write=True)
    await asyncio.to_thread(fs.remove, path, recursive)
    m.usage.forget(view.row.id)


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.get("/{folder}/download", responses={
    **ERRORS, 206: {"description": "Part of the file (Range)"},
    416: {"description": "The range is outside the file"}},
    response_class=Response)
async def download(folder: str, actor: ActorDep, m: ManagerDep, request: Request,
                   path: PathQuery = "") -> Response:
    """A file (HTTP Range supported, to resume) or a directory as a zip, streamed."""
    view, fs = await folder_fs(m, actor.id, folder)
    entry = await asyncio.to_thread(fs.stat, path)
    if entry.type == "dir":
        name = (shown(entry.name) if path.strip("/") else view.row.name) + ".zip"
        chunks = iterate_in_threadpool(zip_chunks(fs, path))
        return StreamingResponse(chunks, media_type="application/zip",
                                 headers={**SAFE_HEADERS, "Content-Disposition": _disposition(
                                     name)})
    handle = await asyncio.to_thread(fs.open_file, path)
    try:
        size = os.fstat(handle.fileno()).st_size
        span = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        handle.close()
        return Response(status_code=416, headers={**SAFE_HEADERS,
                                                  "Content-Range": f"bytes */{size}"})
    except BaseException:
        handle.close()
        raise
    start, end = span if span else (0, size - 1)
    headers = {**SAFE_HEADERS, "Accept-Ranges": "bytes", "Content-Length": str(end - start + 1),
               "Content-Disposition": _disposition(shown(entry.name))}
    if span:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(_read(handle, start, end), status_code=206 if span else 200,
                             media_type="application/octet-stream", headers=headers)


async def _read(handle: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of an open file, in bounded chunks."""
    try:
        async for chunk in iterate_in_threadpool(_chunks(handle, start, end)):
            yield chunk
    finally:
        handle.close()


def _chunks(handle: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    remaining = end - start + 1
    fd = handle.fileno()
    while remaining > 0:
        data = os.pread(fd, min(CHUNK, remaining), start)
        if not data:  # the file shrank while being read
            return
        start += len(data)
        remaining -= len(data)
        yield data
