"""Storage folders: create, find, list, rename, trash, restore, purge, share.

Access (the whole rule, see :func:`relation`):

- a user folder's owner manages it and has read-write access to its files;
- a project folder's members use it read-write; its creator manages it;
- a user the owner shared the folder with uses it with the share's permission (ro or rw) and
  may leave the share; they cannot manage it;
- nobody else learns that it exists (404).

The folder's own ``permission`` is the most any mount of it gets (an owner can upload a
dataset through the explorer and still have every session mount it read-only).
Every check that can fail is made before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.mounts import folder_name_problem, is_auto_mount
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import ENDED
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    FolderRow,
    FolderShareRow,
    ProjectMemberRow,
    ProjectRow,
    ResourcePolicyRow,
    SessionRow,
    UserRow,
)
from berth.manager.services.errors import Conflict, Forbidden, NotFound
from berth.storage.fs import FolderFS
from berth.storage.fs import NotFound as FsNotFound
from berth.storage.hosts import StorageHost, configured_hosts

READY, TRASHED = "ready", "trashed"


@dataclass(frozen=True)
class Relation:
    """How a user stands to a folder: ``manage`` (rename, trash, share), and the permission
    on its files (``rw``/``ro``), or None when the folder does not exist for them."""

    manage: bool
    files: str | None


NONE = Relation(False, None)


def relation(user_id: str, row: FolderRow, projects: set[str], share: str | None) -> Relation:
    """The access rule (pure): see the module docstring."""
    if row.owner_user_id is not None and row.owner_user_id == user_id:
        return Relation(True, "rw")
    if row.owner_project_id is not None and row.owner_project_id in projects:
        return Relation(row.creator_id == user_id, "rw")
    if share is not None and row.status == READY:
        return Relation(False, share)
    return NONE


@dataclass(frozen=True)
class FolderView:
    """A folder as one user sees it."""

    row: FolderRow
    owner_name: str
    rel: Relation
    shared_with_me: bool


def host_of(m: Manager, name: str) -> StorageHost:
    hosts = configured_hosts(m.settings)
    if name not in hosts:  # a host removed from the settings after folders were made on it
        raise Conflict(f"folder host '{name}' is not configured any more; ask an admin")
    return hosts[name]


async def folders_limit(db: AsyncSession, m: Manager, user_id: str) -> int:
    """How many folders ``user_id`` may own: their resource policy's ``max_folders`` when it
    sets one, else the ``max_folders_per_user`` setting."""
    name = await db.scalar(select(UserRow.resource_policy).where(UserRow.id == user_id))
    if name is not None:
        most = await db.scalar(select(ResourcePolicyRow.max_folders)
                               .where(ResourcePolicyRow.name == name))
        if most is not None:
            return int(most)
    return m.settings.max_folders_per_user


async def _projects(db: AsyncSession, user_id: str) -> set[str]:
    rows = await db.scalars(select(ProjectMemberRow.project_id)
                            .where(ProjectMemberRow.user_id == user_id))
    return set(rows.all())


async def _view(db: AsyncSession, user_id: str, row: FolderRow, projects: set[str],
                share: str | None) -> FolderView:
    if row.owner_user_id is not None:
        owner = await db.get(UserRow, row.owner_user_id)
        owner_name = owner.email if owner else ""
    else:
        project = await db.get(ProjectRow, row.owner_project_id)
        owner_name = project.name if project else ""
    rel = relation(user_id, row, projects, share)
    return FolderView(row, owner_name, rel, shared_with_me=share is not None and not rel.manage
                      and row.owner_user_id != user_id)


async def find_folder(db: AsyncSession, user_id: str, ref: str, manage: bool = False,
                      write: bool = False, trashed: bool = False) -> FolderView:
    """A folder ``user_id`` may use, by id or else by name (own, then project, then shared).
    Raises NotFound (also for a folder in the trash unless ``trashed``), Forbidden when it is
    visible but ``manage``/``write`` is not allowed."""
    projects = await _projects(db, user_id)
    shares = dict((await db.execute(select(FolderShareRow.folder_id, FolderShareRow.permission)
                                    .where(FolderShareRow.user_id == user_id))).all())
    candidates: list[FolderRow] = []
    if (row := await db.get(FolderRow, ref)) is not None:
        candidates = [row]
    else:
        query = select(FolderRow).where(FolderRow.name == ref, _visible(user_id, projects,
                                                                        set(shares)))
        candidates = list((await db.scalars(query)).all())
    candidates = [c for c in candidates if (c.status == TRASHED) == trashed
                  and relation(user_id, c, projects, shares.get(c.id)).files is not None]
    if not candidates:
        raise NotFound(f"no folder {ref!r}" + (" in your trash" if trashed else ""))
    if len(candidates) > 1:
        candidates.sort(key=lambda c: (c.owner_user_id != user_id, c.owner_project_id is None))
        if candidates[0].owner_user_id != user_id:
            raise Conflict(f"several folders are named {ref!r}; give the folder's id")
    view = await _view(db, user_id, candidates[0], projects, shares.get(candidates[0].id))
    if manage and not view.rel.manage:
        raise Forbidden("only the folder's owner may do this")
    if write and view.rel.files != "rw":
        raise Forbidden("this folder is shared with you read-only")
    return view


def _visible(user_id: str, projects: set[str], shared: set[str]):  # type: ignore[no-untyped-def]
    return or_(FolderRow.owner_user_id == user_id, FolderRow.owner_project_id.in_(projects),
               FolderRow.id.in_(shared))


async def list_folders(m: Manager, actor: Actor, trashed: bool) -> list[FolderView]:
    """The caller's folders: their own, their projects', those shared with them (ready ones),
    or with ``trashed`` the folders in the trash the caller may manage."""
    async with m.db() as db:
        projects = await _projects(db, actor.id)
        shares = dict((await db.execute(select(FolderShareRow.folder_id,
                                               FolderShareRow.permission)
                                        .where(FolderShareRow.user_id == actor.id))).all())
        rows = (await db.scalars(
            select(FolderRow).where(_visible(actor.id, projects, set(shares)),
                                    FolderRow.status == (TRASHED if trashed else READY))
            .order_by(FolderRow.name))).all()
        views = [await _view(db, actor.id, r, projects, shares.get(r.id)) for r in rows]
    return [v for v in views if v.rel.files is not None and (v.rel.manage or not trashed)]


async def create_folder(m: Manager, actor: Actor, name: str, host: str | None,
                        usage_mode: str, permission: str, project: str | None) -> FolderView:
    """Check every rule, then create the row and the directory. Raises RuleErrors (422)."""
    errors: list[RuleError] = []
    if problem := folder_name_problem(name):
        errors.append(RuleError("name", problem))
    hosts = configured_hosts(m.settings)
    host_name = host or m.settings.default_storage_host
    if host_name not in hosts:
        errors.append(RuleError("host", f"no folder host '{host_name}'; hosts: "
                                + ", ".join(hosts)))
    async with transaction(m.db) as db:
        project_id = None
        if project is not None:
            project_id = await db.scalar(select(ProjectRow.id).where(ProjectRow.name == project))
            if project_id is None or project_id not in await _projects(db, actor.id):
                errors.append(RuleError("project", f"you are not a member of a project "
                                        f"named '{project}'"))
        owned = await db.scalar(select(func.count()).select_from(FolderRow).where(
            FolderRow.creator_id == actor.id)) or 0
        if owned >= (limit := await folders_limit(db, m, actor.id)):
            errors.append(RuleError("name", f"you have {owned} folders, the most allowed is "
                                    f"{limit}; purge some from the trash"))
        owner_filter = (FolderRow.owner_project_id == project_id if project_id
                        else FolderRow.owner_user_id == actor.id)
        if not errors and await db.scalar(select(FolderRow.id).where(
                owner_filter, FolderRow.name == name, FolderRow.status == READY)):
            errors.append(RuleError("name", f"you already have a folder named '{name}'"))
        if errors:
            raise RuleErrors(errors)
        row = FolderRow(name=name, host=host_name, owner_user_id=None if project_id
                        else actor.id, owner_project_id=project_id, creator_id=actor.id,
                        usage_mode=usage_mode, permission=permission, status=READY)
        db.add(row)
        try:
            await db.flush()
        except IntegrityError as e:
            raise Conflict(f"name: a folder named '{name}' was just created") from e
        target = hosts[host_name]
        await asyncio.to_thread(target.prepare)
        await asyncio.to_thread(target.make_folder_dir, row.id)
        view = await _view(db, actor.id, row, await _projects(db, actor.id), None)
    return view


async def update_folder(m: Manager, actor: Actor, ref: str, name: str | None,
                        usage_mode: str | None, permission: str | None) -> FolderView:
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=True)
        row = view.row
        if name is not None and name != row.name:
            if problem := folder_name_problem(name):
                raise RuleErrors([RuleError("name", problem)])
            await _check_free_name(db, row, name)
            if is_auto_mount(name) != is_auto_mount(row.name):
                await _check_unmounted(db, row, "renamed to or from a dot-name")
            row.name = name
        if usage_mode is not None:
            row.usage_mode = usage_mode
        if permission is not None:
            row.permission = permission
        try:
            await db.flush()
        except IntegrityError as e:
            raise Conflict(f"name: a folder named '{name}' was just created") from e
        return await _view(db, actor.id, row, await _projects(db, actor.id), None)


async def _check_free_name(db: AsyncSession, row: FolderRow, name: str) -> None:
    owner = (FolderRow.owner_user_id == row.owner_user_id if row.owner_user_id
             else FolderRow.owner_project_id == row.owner_project_id)
    if await db.scalar(select(FolderRow.id).where(owner, FolderRow.name == name,
                                                  FolderRow.status == READY,
                                                  FolderRow.id != row.id)):
        raise RuleErrors([RuleError("name", f"another folder is already named '{name}'")])


async def mounted_by(db: AsyncSession, folder_id: str) -> list[SessionRow]:
    """Sessions not yet ended that mount the folder."""
    # The JSON's text narrows it down in the database (both SQLite and PostgreSQL); the
    # check on the parsed mounts decides.
    rows = (await db.scalars(select(SessionRow).where(
        SessionRow.status.not_in(ENDED),
        cast(SessionRow.mounts, String).contains(folder_id)))).all()
    return [r for r in rows if any(m.get("folder_id") == folder_id for m in r.mounts or [])]


async def _check_unmounted(db: AsyncSession, row: FolderRow, what: str) -> None:
    if sessions := await mounted_by(db, row.id):
        names = ", ".join(repr(s.name) for s in sessions[:3])
        raise Conflict(f"folder '{row.name}' cannot be {what} while sessions mount it: {names}")


async def trash_folder(m: Manager, actor: Actor, ref: str) -> FolderView:
    """Move to the trash (the files stay until a purge). Sessions that mount it keep it."""
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=True)
        view.row.status = TRASHED
        view.row.trashed_at = datetime.now(UTC)
        await db.flush()
        return view


async def restore_folder(m: Manager, actor: Actor, ref: str, name: str | None) -> FolderView:
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=True, trashed=True)
        row = view.row
        new_name = name or row.name
        if problem := folder_name_problem(new_name):
            raise RuleErrors([RuleError("name", problem)])
        await _check_free_name(db, row, new_name)
        row.name, row.status, row.trashed_at = new_name, READY, None
        try:
            await db.flush()
        except IntegrityError as e:
            raise Conflict(f"name: a folder named '{new_name}' was just created") from e
        return view


async def purge_folder(m: Manager, actor: Actor, ref: str) -> None:
    """Delete a folder in the trash for good: its files, its shares, its row."""
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=True, trashed=True)
        row = view.row
        await _check_unmounted(db, row, "purged")
        host = host_of(m, row.host)
        for share in (await db.scalars(select(FolderShareRow)
                                       .where(FolderShareRow.folder_id == row.id))).all():
            await db.delete(share)
        await db.flush()  # the shares before the folder they point to
        await db.delete(row)
        await db.flush()
        # The confined recursive delete: links planted by sessions are removed, never followed.
        with contextlib.suppress(FsNotFound):
            await asyncio.to_thread(FolderFS(host.folders_dir).remove, row.id, True)


async def list_shares(m: Manager, actor: Actor, ref: str) -> list[tuple[FolderShareRow, str]]:
    async with m.db() as db:
        view = await find_folder(db, actor.id, ref, manage=True)
        rows = (await db.execute(select(FolderShareRow, UserRow.email)
                                 .join(UserRow, UserRow.id == FolderShareRow.user_id)
                                 .where(FolderShareRow.folder_id == view.row.id)
                                 .order_by(UserRow.email))).all()
        return [(share, email) for share, email in rows]


async def share_folder(m: Manager, actor: Actor, ref: str, email: str,
                       permission: str) -> tuple[FolderShareRow, str]:
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=True)
        if view.row.owner_user_id is None:
            raise RuleErrors([RuleError("email", "a project folder is shared with the "
                                        "project's members; add the user to the project")])
        user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
        if user is None or not user.is_active:
            raise RuleErrors([RuleError("email", f"no active user with email {email}")])
        if user.id == actor.id:
            raise RuleErrors([RuleError("email", "you own this folder already")])
        share = await db.get(FolderShareRow, (view.row.id, user.id))
        if share is None:
            share = FolderShareRow(folder_id=view.row.id, user_id=user.id)
            db.add(share)
        share.permission = permission
        await db.flush()
        return share, user.email


async def unshare_folder(m: Manager, actor: Actor, ref: str, user_id: str) -> None:
    """The owner removes a share, or an invitee leaves (``user_id`` is their own id)."""
    async with transaction(m.db) as db:
        view = await find_folder(db, actor.id, ref, manage=user_id != actor.id)
        share = await db.get(FolderShareRow, (view.row.id, user_id))
        if share is None:
            raise NotFound("this folder is not shared with that user")
        await db.delete(share)


def mount_allowed(view: FolderView) -> str:
    """The most a mount of the folder may be: ro when the folder or the share says so."""
    return "rw" if view.row.permission == "rw" and view.rel.files == "rw" else "ro"


async def mount_candidates(db: AsyncSession, owner_id: str, refs: Sequence[str],
                           projects: set[str] | None = None
                           ) -> tuple[list[FolderView | RuleError], list[FolderView]]:
    """For a launch: each asked folder (by id or name) as the session's owner sees it, or the
    error for ``mounts[i].folder``; and the owner's dot-folders (auto-mounted). ``projects``:
    the owner's projects' ids, when the caller has read them already."""
    found: list[FolderView | RuleError] = []
    for i, ref in enumerate(refs):
        try:
            found.append(await find_folder(db, owner_id, ref))
        except (NotFound, Conflict) as e:
            found.append(RuleError(f"mounts[{i}].folder", str(e)))
    if projects is None:
        projects = await _projects(db, owner_id)
    dots = (await db.scalars(select(FolderRow).where(
        FolderRow.owner_user_id == owner_id, FolderRow.status == READY,
        FolderRow.name.startswith(".")))).all()
    auto = [await _view(db, owner_id, r, projects, None) for r in dots]
    return found, auto
