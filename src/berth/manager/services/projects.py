"""Projects: admin CRUD and members. Users see the projects they belong to; admins all.

A session and a folder belong to a project; deleting a project is refused while it has any
session (ended ones too: their history names it; deactivate it instead) or folder."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import policy as pol
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import ENDED
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    FolderRow,
    ProjectMemberRow,
    ProjectRow,
    ResourceGroupProjectRow,
    ResourcePolicyRow,
    SessionRow,
    UserRow,
)
from berth.manager.schemas_admin import MemberOut, ProjectCreate, ProjectOut, ProjectUpdate
from berth.manager.services.errors import Conflict, NotFound
from berth.manager.services.policies import require_admin

DEFAULT_PROJECT = "default"


async def member_projects(db: AsyncSession, user_id: str) -> list[ProjectRow]:
    """The projects ``user_id`` belongs to, by name."""
    rows = await db.scalars(
        select(ProjectRow).join(ProjectMemberRow, ProjectMemberRow.project_id == ProjectRow.id)
        .where(ProjectMemberRow.user_id == user_id).order_by(ProjectRow.name))
    return list(rows.all())


def facts(row: ProjectRow) -> pol.ProjectFacts:
    return pol.ProjectFacts(row.id, row.name, row.is_active, row.resource_policy)


async def _counts(db: AsyncSession, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    result = await db.execute(
        select(ProjectMemberRow.project_id, func.count())
        .where(ProjectMemberRow.project_id.in_(ids)).group_by(ProjectMemberRow.project_id))
    return {p: int(n) for p, n in result.all()}


async def _outs(db: AsyncSession, rows: list[ProjectRow]) -> list[ProjectOut]:
    counts = await _counts(db, [r.id for r in rows])
    return [ProjectOut(id=r.id, name=r.name, description=r.description, is_active=r.is_active,
                       resource_policy=r.resource_policy, members_count=counts.get(r.id, 0))
            for r in rows]


async def _find(db: AsyncSession, actor: Actor, ref: str, lock: bool = False) -> ProjectRow:
    """A project by name (or id) the actor may see: admins every one, users their own.
    Raises NotFound."""
    query = select(ProjectRow).where(or_(ProjectRow.name == ref, ProjectRow.id == ref))
    if lock:
        query = query.with_for_update()
    row = (await db.scalars(query)).first()
    if row is not None and not actor.is_admin:
        member = await db.get(ProjectMemberRow, (row.id, actor.id))
        row = row if member is not None else None
    if row is None:
        raise NotFound(f"no project '{ref}'")
    return row


async def list_projects(m: Manager, actor: Actor) -> list[ProjectOut]:
    async with m.db() as db:
        if actor.is_admin:
            rows = list((await db.scalars(select(ProjectRow).order_by(ProjectRow.name))).all())
        else:
            rows = await member_projects(db, actor.id)
        return await _outs(db, rows)


async def get_project(m: Manager, actor: Actor, ref: str) -> ProjectOut:
    async with m.db() as db:
        [out] = await _outs(db, [await _find(db, actor, ref)])
    return out


async def _check_policy(db: AsyncSession, name: str | None, errors: list[RuleError]) -> None:
    if name is not None and await db.get(ResourcePolicyRow, name) is None:
        errors.append(RuleError("resource_policy", f"no resource policy '{name}'"))


async def create_project(m: Manager, actor: Actor, body: ProjectCreate) -> ProjectOut:
    require_admin(actor, "create projects")
    errors = []
    if problem := pol.entity_name_problem(body.name):
        errors.append(RuleError("name", problem))
    try:
        async with transaction(m.db) as db:
            await _check_policy(db, body.resource_policy, errors)
            if errors:
                raise RuleErrors(errors)
            if await db.scalar(select(ProjectRow.id).where(ProjectRow.name == body.name)):
                raise Conflict(f"name: a project '{body.name}' exists already")
            row = ProjectRow(name=body.name, description=body.description,
                             is_active=body.is_active, resource_policy=body.resource_policy)
            db.add(row)
            await db.flush()
            [out] = await _outs(db, [row])
    except IntegrityError as e:
        raise Conflict(f"name: a project '{body.name}' exists already") from e
    return out


async def update_project(m: Manager, actor: Actor, ref: str, body: ProjectUpdate) -> ProjectOut:
    require_admin(actor, "change projects")
    given = body.model_fields_set
    errors = []
    if body.name is not None and (problem := pol.entity_name_problem(body.name)):
        errors.append(RuleError("name", problem))
    try:
        async with transaction(m.db) as db:
            row = await _find(db, actor, ref, lock=True)
            await _check_policy(db, body.resource_policy, errors)
            if body.name is not None and body.name != row.name:
                if row.name == DEFAULT_PROJECT:
                    errors.append(RuleError("name", "the default project cannot be renamed"))
                elif await db.scalar(select(ProjectRow.id).where(ProjectRow.name == body.name)):
                    raise Conflict(f"name: a project '{body.name}' exists already")
            if errors:
                raise RuleErrors(errors)
            if body.name is not None:
                row.name = body.name
            if body.description is not None:
                row.description = body.description
            if body.is_active is not None:
                row.is_active = body.is_active
            if "resource_policy" in given:
                row.resource_policy = body.resource_policy
            await db.flush()
            [out] = await _outs(db, [row])
    except IntegrityError as e:
        raise Conflict(f"name: a project '{body.name}' exists already") from e
    return out


async def delete_project(m: Manager, actor: Actor, ref: str) -> None:
    """Raises Conflict for the default project, or while the project has sessions (not
    ended, or ended: kept as history) or folders."""
    require_admin(actor, "delete projects")
    try:
        async with transaction(m.db) as db:
            row = await _find(db, actor, ref, lock=True)
            if row.name == DEFAULT_PROJECT:
                raise Conflict("the default project cannot be deleted")
            active = await db.scalar(select(func.count()).select_from(SessionRow).where(
                SessionRow.project_id == row.id, SessionRow.status.not_in(ENDED))) or 0
            if active:
                raise Conflict(f"project '{row.name}' has {active} sessions not yet ended")
            folders = await db.scalar(select(func.count()).select_from(FolderRow).where(
                FolderRow.owner_project_id == row.id)) or 0
            if folders:
                raise Conflict(f"project '{row.name}' owns {folders} folders (trash included)")
            ended = await db.scalar(select(func.count()).select_from(SessionRow).where(
                SessionRow.project_id == row.id)) or 0
            if ended:
                raise Conflict(f"project '{row.name}' has {ended} ended sessions in its history; "
                               "deactivate it instead (is_active false)")
            await db.execute(delete(ProjectMemberRow).where(ProjectMemberRow.project_id == row.id))
            await db.execute(delete(ResourceGroupProjectRow)
                             .where(ResourceGroupProjectRow.project_id == row.id))
            await db.delete(row)
    except IntegrityError as e:  # a row referring to it was added meanwhile
        raise Conflict(f"project '{ref}' came into use meanwhile; try again") from e


async def list_members(m: Manager, actor: Actor, ref: str) -> list[MemberOut]:
    """A project's members by email (admins, and the project's own members)."""
    async with m.db() as db:
        row = await _find(db, actor, ref)
        users = await db.scalars(
            select(UserRow).join(ProjectMemberRow, ProjectMemberRow.user_id == UserRow.id)
            .where(ProjectMemberRow.project_id == row.id).order_by(UserRow.email))
        return [MemberOut(id=u.id, email=u.email, full_name=u.full_name, role=u.role)
                for u in users.all()]


async def add_member(m: Manager, actor: Actor, ref: str, email: str) -> MemberOut:
    """Raises RuleErrors (no such user: field ``email``) or Conflict (already a member)."""
    require_admin(actor, "change project members")
    try:
        async with transaction(m.db) as db:
            row = await _find(db, actor, ref, lock=True)
            user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
            if user is None:
                raise RuleErrors([RuleError("email", f"no user with email {email}")])
            if await db.get(ProjectMemberRow, (row.id, user.id)) is not None:
                raise Conflict(f"email: {user.email} is a member of '{row.name}' already")
            db.add(ProjectMemberRow(project_id=row.id, user_id=user.id))
            await db.flush()
    except IntegrityError as e:
        raise Conflict(f"email: {email} is a member already") from e
    return MemberOut(id=user.id, email=user.email, full_name=user.full_name, role=user.role)


async def remove_member(m: Manager, actor: Actor, ref: str, user_id: str) -> None:
    """Raises NotFound when the user is not a member. The user's sessions and folders in the
    project stay (an admin decides what to do with them)."""
    require_admin(actor, "change project members")
    async with transaction(m.db) as db:
        row = await _find(db, actor, ref, lock=True)
        member = await db.get(ProjectMemberRow, (row.id, user_id))
        if member is None:
            raise NotFound(f"user {user_id} is not a member of '{row.name}'")
        await db.delete(member)
