"""Storage folders in the SDK for :class:`~berth.client.AsyncClient`: the same methods as
:class:`~berth.client.folders.FolderMethods`, with the same arguments, awaited. (Local files
are read and written in the event loop's thread, a chunk at a time.)"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import httpx

from berth.client import operations as op
from berth.client import tus
from berth.client.errors import raise_for
from berth.client.transfers import (
    Dest,
    Store,
    attachment_name,
    done,
    open_dest,
    reader,
    remember,
    total_of,
    upload_request,
)


class AsyncFolderMethods:
    """Folders and their files, for :class:`~berth.client.AsyncClient`: as
    :class:`~berth.client.folders.FolderMethods`, awaited."""

    http: httpx.AsyncClient
    endpoint: str
    if TYPE_CHECKING:
        async def _do(self, call: op.Call) -> Any: ...
        async def request(self, method: str, path: str, **kwargs: Any) -> Any: ...

    async def list_storage_hosts(self) -> list[dict[str, Any]]:
        """The folder hosts with their space and capabilities (superadmins)."""
        result: list[dict[str, Any]] = await self.request("GET", "/api/storage/hosts")
        return result

    async def list_folders(self, trashed: bool = False) -> list[dict[str, Any]]:
        """Your folders, your projects' and those shared with you; ``trashed``: your trash."""
        result: list[dict[str, Any]] = await self._do(op.list_folders(trashed))
        return result


    async def create_folder(self, name: str, host: str | None = None, usage_mode: str | None = None,
                      permission: str | None = None, project: str | None = None
                      ) -> dict[str, Any]:
        """A new folder; ``project`` (a project's name) makes it the project's."""
        result: dict[str, Any] = await self._do(
            op.create_folder(name, host, usage_mode, permission, project))
        return result

    async def get_folder(self, folder: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", op.folder_path(folder))
        return result

    async def update_folder(self, folder: str, name: str | None = None,
                      usage_mode: str | None = None, permission: str | None = None
                      ) -> dict[str, Any]:
        """Rename a folder or change its usage mode or default permission (owner only)."""
        result: dict[str, Any] = await self._do(
            op.update_folder(folder, name, usage_mode, permission))
        return result

    async def trash_folder(self, folder: str) -> dict[str, Any]:
        """Move a folder to the trash (see :meth:`restore_folder`, :meth:`purge_folder`)."""
        result: dict[str, Any] = await self.request("DELETE", op.folder_path(folder))
        return result

    async def restore_folder(self, folder: str, name: str | None = None) -> dict[str, Any]:
        """Take a folder out of the trash, under ``name`` if its old one is taken again."""
        result: dict[str, Any] = await self._do(op.restore_folder(folder, name))
        return result

    async def purge_folder(self, folder: str) -> None:
        """Delete a trashed folder and its files for good."""
        await self.request("POST", op.folder_path(folder, "/purge"))

    async def list_folder_shares(self, folder: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", op.folder_path(folder, "/shares"))
        return result

    async def share_folder(self, folder: str, email: str, permission: str = "ro"
                     ) -> dict[str, Any]:
        """Invite a user (or change their permission: "ro" or "rw")."""
        result: dict[str, Any] = await self._do(op.share_folder(folder, email, permission))
        return result

    async def unshare_folder(self, folder: str, user_id: str) -> None:
        """Remove a user's share (your own: leave a folder shared with you)."""
        await self._do(op.unshare_folder(folder, user_id))

    async def list_files(self, folder: str, path: str = "", sort: str = "name",
                   order: str = "asc", offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """A page of a directory: ``{path, total, offset, limit, entries}``."""
        result: dict[str, Any] = await self._do(
            op.list_files(folder, path, sort, order, offset, limit))
        return result

    async def mkdir(self, folder: str, path: str, parents: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self._do(op.mkdir(folder, path, parents))
        return result

    async def move_file(self, folder: str, src: str, dst: str) -> dict[str, Any]:
        """Rename or move a file or directory inside the folder (``dst`` must not exist)."""
        result: dict[str, Any] = await self._do(op.move_file(folder, src, dst))
        return result

    async def remove_file(self, folder: str, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory (a non-empty one needs ``recursive``)."""
        await self._do(op.remove_file(folder, path, recursive))

    async def download(self, folder: str, path: str, dest: Dest,
                 progress: tus.Progress | None = None) -> dict[str, Any]:
        """Stream a file, or a directory as a zip, to ``dest`` (a path, an existing directory
        or a binary stream) in bounded memory. Answers ``{name, bytes, path}``."""
        method, url, kwargs = op.download(folder, path)
        async with self.http.stream(method, url, **kwargs) as r:
            if r.status_code >= 400:
                await r.aread()
                raise_for(r)
            name, total, count = attachment_name(r), total_of(r), 0
            with open_dest(dest, name) as (out, written):
                async for chunk in r.aiter_bytes():
                    out.write(chunk)
                    count += len(chunk)
                    if progress is not None:
                        progress(count, total)
        return done(written, name, count)

    async def upload(self, folder: str, local_path: str | os.PathLike[str], dest_path: str,
                     progress: tus.Progress | None = None, resume_store: Store | None = None
                     ) -> dict[str, Any]:
        """Upload a local file to ``dest_path`` in the folder (tus; resumes by itself after a
        dropped connection). ``resume_store`` (e.g. a dict kept on disk) remembers unfinished
        uploads so that a later call with the same file goes on where this one stopped.
        An existing file is replaced. Answers ``{path, bytes}``."""
        path, size, metadata, key = upload_request(folder, local_path, dest_path)
        key = f"{self.endpoint} {key}"
        with path.open("rb") as f:
            protocol = tus.steps(
                self.http.build_request, "/api/uploads", size, metadata, reader(f),
                url=resume_store.get(key) if resume_store is not None else None,
                progress=progress, created=remember(resume_store, key),
                chunk_size=tus.CHUNK_SIZE, backoff=tus.BACKOFF)
            await tus.run_async(self.http, protocol)
        if resume_store is not None:
            resume_store.pop(key, None)
        return {"path": metadata["path"], "bytes": size}
