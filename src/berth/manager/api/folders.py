"""Storage folders: create, list, info, rename, trash, restore, purge, share; folder hosts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.context import Manager
from berth.manager.db.tables import FolderRow
from berth.manager.schemas_storage import (
    FolderCreate,
    FolderOut,
    FolderRestore,
    FolderUpdate,
    HostOut,
    ShareIn,
    ShareOut,
)
from berth.manager.services import folders as svc
from berth.storage.hosts import configured_hosts

router = APIRouter(prefix="/api", tags=["folders"])
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such folder of yours"},
                        403: {"description": "Only its owner may do this"}}


def folder_out(m: Manager, view: svc.FolderView) -> FolderOut:
    """The API's view of a folder; asks for a fresh size measure when the cached one is old."""
    row = view.row
    usage = m.usage.get(row.id)
    if row.status == svc.READY and (host := configured_hosts(m.settings).get(row.host)):
        m.usage.want(row.id, host.folder_dir(row.id))
    return FolderOut(
        id=row.id, name=row.name, host=row.host, status=row.status,
        trashed_at=row.trashed_at, created_at=row.created_at,
        owner_kind="user" if row.owner_user_id else "project",
        owner_id=row.owner_user_id or row.owner_project_id or "",
        owner_name=view.owner_name, usage_mode=row.usage_mode,
        permission=row.permission,
        my_permission=view.rel.files or "ro",
        is_owner=view.rel.manage, shared_with_me=view.shared_with_me,
        auto_mount=row.name.startswith("."),
        usage_bytes=usage.bytes if usage else None, usage_files=usage.files if usage else None,
        usage_measured_at=usage.measured_at if usage else None,
        usage_complete=usage.complete if usage else True,
    )


@router.get("/folders")
async def list_folders(
    actor: ActorDep, m: ManagerDep,
    trashed: Annotated[bool, Query(description="List your trash instead.")] = False,
) -> list[FolderOut]:
    """Your folders, your projects' folders and those shared with you (or your trash)."""
    return [folder_out(m, v) for v in await svc.list_folders(m, actor, trashed)]


@router.post("/folders", status_code=201)
async def create_folder(body: FolderCreate, actor: ActorDep, m: ManagerDep) -> FolderOut:
    """Create a folder (an empty directory on its host, owned by the kernels' user)."""
    view = await svc.create_folder(m, actor, body.name, body.host, body.usage_mode,
                                   body.permission, body.project)
    return folder_out(m, view)


@router.get("/folders/{folder}", responses=NOT_FOUND)
async def get_folder(folder: str, actor: ActorDep, m: ManagerDep) -> FolderOut:
    """A folder by id or name."""
    async with m.db() as db:
        return folder_out(m, await svc.find_folder(db, actor.id, folder))


@router.patch("/folders/{folder}", responses=NOT_FOUND)
async def update_folder(folder: str, body: FolderUpdate, actor: ActorDep,
                        m: ManagerDep) -> FolderOut:
    """Rename it, or change its usage mode or permission (owner only)."""
    view = await svc.update_folder(m, actor, folder, body.name, body.usage_mode,
                                   body.permission)
    return folder_out(m, view)


@router.delete("/folders/{folder}", responses=NOT_FOUND)
async def trash_folder(folder: str, actor: ActorDep, m: ManagerDep) -> FolderOut:
    """Move it to the trash: its files stay until it is purged; restore it any time."""
    return folder_out(m, await svc.trash_folder(m, actor, folder))


@router.post("/folders/{folder}/restore", responses=NOT_FOUND)
async def restore_folder(folder: str, actor: ActorDep, m: ManagerDep,
                         body: FolderRestore | None = None) -> FolderOut:
    """Bring a folder back from the trash (give a new name if its name is taken again)."""
    return folder_out(m, await svc.restore_folder(m, actor, folder, body.name if body else None))


@router.post("/folders/{folder}/purge", status_code=204,
             responses={**NOT_FOUND, 409: {"description": "A session mounts it"}})
async def purge_folder(folder: str, actor: ActorDep, m: ManagerDep) -> None:
    """Delete a folder in the trash for good, with all its files."""
    await svc.purge_folder(m, actor, folder)


def _share_out(share: Any, email: str) -> ShareOut:
    return ShareOut(folder_id=share.folder_id, user_id=share.user_id, email=email,
                    permission=share.permission, created_at=share.created_at)


@router.get("/folders/{folder}/shares", responses=NOT_FOUND)
async def list_shares(folder: str, actor: ActorDep, m: ManagerDep) -> list[ShareOut]:
    """Who the folder is shared with (owner only)."""
    return [_share_out(s, e) for s, e in await svc.list_shares(m, actor, folder)]


@router.post("/folders/{folder}/shares", responses=NOT_FOUND)
async def share_folder(folder: str, body: ShareIn, actor: ActorDep, m: ManagerDep) -> ShareOut:
    """Share with a user read-only or read-write (again: change the permission)."""
    share, email = await svc.share_folder(m, actor, folder, body.email, body.permission)
    return _share_out(share, email)


@router.delete("/folders/{folder}/shares/{user_id}", status_code=204, responses=NOT_FOUND)
async def unshare_folder(folder: str, user_id: str, actor: ActorDep, m: ManagerDep) -> None:
    """The owner stops sharing with a user; a user with your own id leaves a shared folder."""
    await svc.unshare_folder(m, actor, folder, user_id)


@router.get("/storage/hosts", responses={403: {"description": "Superadmins only"}})
async def list_hosts(actor: ActorDep, m: ManagerDep) -> list[HostOut]:
    """Folder hosts with their disk usage and free space (superadmins)."""
    if not actor.is_superadmin:
        raise HTTPException(403, "only superadmins may list folder hosts")
    async with m.db() as db:
        counts = dict((await db.execute(select(FolderRow.host, func.count())
                                        .group_by(FolderRow.host))).all())
    out = []
    for host in configured_hosts(m.settings).values():
        await asyncio.to_thread(host.prepare)
        total, used, free = await asyncio.to_thread(host.disk)
        out.append(HostOut(name=host.name, path=str(host.path),
                           capabilities=list(host.capabilities), total_bytes=total,
                           used_bytes=used, free_bytes=free, folders=counts.get(host.name, 0)))
    return out
