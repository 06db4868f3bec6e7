"""Resource groups: admin CRUD with their settings and access lists, and who may use which
(:func:`berth.domain.policy.may_use_group`). Users see the active groups they may use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
    AgentRow,
    ProjectMemberRow,
    ProjectRow,
    ResourceGroupProjectRow,
    ResourceGroupRow,
    ResourceGroupUserRow,
    ResourcePresetRow,
    SessionRow,
    UserRow,
)
from berth.manager.schemas_admin import ResourceGroupCreate, ResourceGroupOut, ResourceGroupUpdate
from berth.manager.services.errors import Conflict, NotFound
from berth.manager.services.policies import require_admin

DEFAULT_GROUP = "default"
#: The idle-check settings of a group (columns and API fields alike; None: not set).
IDLE_FIELDS = ("max_session_lifetime", "idle_timeout", "utilization_window", "grace_period",
               "utilization_thresholds", "utilization_combine", "warn_before")


async def _links(db: AsyncSession, names: Sequence[str] | None = None
                 ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """group -> linked user ids, group -> linked project ids (of ``names``, or all)."""
    users: dict[str, set[str]] = defaultdict(set)
    projects: dict[str, set[str]] = defaultdict(set)
    uq = select(ResourceGroupUserRow.resource_group, ResourceGroupUserRow.user_id)
    pq = select(ResourceGroupProjectRow.resource_group, ResourceGroupProjectRow.project_id)
    if names is not None:
        uq = uq.where(ResourceGroupUserRow.resource_group.in_(names))
        pq = pq.where(ResourceGroupProjectRow.resource_group.in_(names))
    for group, user_id in (await db.execute(uq)).all():
        users[group].add(user_id)
    for group, project_id in (await db.execute(pq)).all():
        projects[group].add(project_id)
    return users, projects


async def links_of(db: AsyncSession, name: str) -> tuple[set[str], set[str]]:
    """The user ids and the project ids linked to one group (none: open to every user)."""
    users, projects = await _links(db, [name])
    return users[name], projects[name]


async def usable_groups(db: AsyncSession, user_id: str, is_superadmin: bool,
                        names: Sequence[str] | None = None) -> set[str]:
    """The groups (of ``names``, or all) the user may use, active or not."""
    query = select(ResourceGroupRow.name)
    if names is not None:
        query = query.where(ResourceGroupRow.name.in_(names))
    groups = list((await db.scalars(query)).all())
    users, projects = await _links(db, groups)
    mine = set((await db.scalars(select(ProjectMemberRow.project_id)
                                 .where(ProjectMemberRow.user_id == user_id))).all())
    return {g for g in groups
            if pol.may_use_group(is_superadmin, user_id, mine, users[g], projects[g])}


async def visible_groups(db: AsyncSession, actor: Actor) -> set[str] | None:
    """The groups ``actor`` may see: None for admins (every one), else the active groups
    they may use."""
    if actor.is_admin:
        return None
    usable = await usable_groups(db, actor.id, actor.is_superadmin)
    active = set((await db.scalars(select(ResourceGroupRow.name)
                                   .where(ResourceGroupRow.is_active))).all())
    return usable & active


async def _outs(db: AsyncSession, actor: Actor, rows: Sequence[ResourceGroupRow]
                ) -> list[ResourceGroupOut]:
    names = [r.name for r in rows]
    agents = dict((await db.execute(
        select(AgentRow.resource_group, func.count()).where(AgentRow.resource_group.in_(names))
        .group_by(AgentRow.resource_group))).all())
    users, projects = await _links(db, names)
    emails: dict[str, str] = {}
    project_names: dict[str, str] = {}
    if actor.is_admin:  # users do not see who else may use a group
        ids = set().union(*users.values()) if users else set()
        emails = dict((await db.execute(select(UserRow.id, UserRow.email)
                                        .where(UserRow.id.in_(ids)))).all())
        pids = set().union(*projects.values()) if projects else set()
        project_names = dict((await db.execute(select(ProjectRow.id, ProjectRow.name)
                                               .where(ProjectRow.id.in_(pids)))).all())
    return [ResourceGroupOut(
        name=r.name, description=r.description, is_active=r.is_active, scheduler=r.scheduler,
        agent_selection=r.agent_selection, allowed_session_types=list(r.allowed_session_types),
        pending_timeout=r.pending_timeout, accelerator_quantum=r.accelerator_quantum,
        accelerator_policy=r.accelerator_policy, allow_sudo=r.allow_sudo,
        **{f: getattr(r, f) for f in IDLE_FIELDS},
        projects=sorted(project_names[p] for p in projects[r.name] if p in project_names),
        users=sorted(emails[u] for u in users[r.name] if u in emails),
        agents=int(agents.get(r.name, 0))) for r in rows]


async def _find(db: AsyncSession, actor: Actor, name: str, lock: bool = False
                ) -> ResourceGroupRow:
    row = await db.get(ResourceGroupRow, name, with_for_update=lock)
    visible = await visible_groups(db, actor)
    if row is None or (visible is not None and name not in visible):
        raise NotFound(f"no resource group '{name}'")
    return row


async def list_groups(m: Manager, actor: Actor) -> list[ResourceGroupOut]:
    async with m.db() as db:
        visible = await visible_groups(db, actor)
        rows = (await db.scalars(select(ResourceGroupRow)
                                 .order_by(ResourceGroupRow.name))).all()
        return await _outs(db, actor, [r for r in rows if visible is None or r.name in visible])


async def get_group(m: Manager, actor: Actor, name: str) -> ResourceGroupOut:
    async with m.db() as db:
        [out] = await _outs(db, actor, [await _find(db, actor, name)])
    return out


async def _resolve_access(db: AsyncSession, projects: list[str] | None, users: list[str] | None,
                          errors: list[RuleError]) -> tuple[list[str], list[str]]:
    """Project ids (from names or ids) and user ids (from emails); unknown ones are errors
    naming the list item (``projects[1]``)."""
    project_ids: list[str] = []
    for i, ref in enumerate(projects or []):
        found = await db.scalar(select(ProjectRow.id).where(
            or_(ProjectRow.name == ref, ProjectRow.id == ref)))
        if found is None:
            errors.append(RuleError(f"projects[{i}]", f"no project '{ref}'"))
        elif found not in project_ids:
            project_ids.append(found)
    user_ids: list[str] = []
    for i, email in enumerate(users or []):
        found = await db.scalar(select(UserRow.id).where(UserRow.email == email.lower()))
        if found is None:
            errors.append(RuleError(f"users[{i}]", f"no user with email {email}"))
        elif found not in user_ids:
            user_ids.append(found)
    return project_ids, user_ids


async def _set_access(db: AsyncSession, name: str, project_ids: list[str] | None,
                      user_ids: list[str] | None) -> None:
    if project_ids is not None:
        await db.execute(delete(ResourceGroupProjectRow)
                         .where(ResourceGroupProjectRow.resource_group == name))
        db.add_all(ResourceGroupProjectRow(resource_group=name, project_id=p)
                   for p in project_ids)
    if user_ids is not None:
        await db.execute(delete(ResourceGroupUserRow)
                         .where(ResourceGroupUserRow.resource_group == name))
        db.add_all(ResourceGroupUserRow(resource_group=name, user_id=u) for u in user_ids)


def _types(values: Sequence[str]) -> list[str]:
    """Session types without repeats, in the canonical order."""
    return [t for t in pol.SESSION_TYPES if t in {str(v) for v in values}]


async def create_group(m: Manager, actor: Actor, body: ResourceGroupCreate) -> ResourceGroupOut:
    require_admin(actor, "create resource groups")
    errors = []
    if problem := pol.entity_name_problem(body.name):
        errors.append(RuleError("name", problem))
    try:
        async with transaction(m.db) as db:
            project_ids, user_ids = await _resolve_access(db, body.projects, body.users, errors)
            if errors:
                raise RuleErrors(errors)
            if await db.get(ResourceGroupRow, body.name) is not None:
                raise Conflict(f"name: a resource group '{body.name}' exists already")
            row = ResourceGroupRow(
                name=body.name, description=body.description, is_active=body.is_active,
                scheduler=body.scheduler, agent_selection=body.agent_selection,
                allowed_session_types=_types(body.allowed_session_types),
                pending_timeout=body.pending_timeout,
                accelerator_quantum=format(body.accelerator_quantum.normalize(), "f"),
                accelerator_policy=body.accelerator_policy, allow_sudo=body.allow_sudo,
                **{f: getattr(body, f) for f in IDLE_FIELDS})
            db.add(row)
            await db.flush()
            await _set_access(db, row.name, project_ids, user_ids)
            await db.flush()
            [out] = await _outs(db, actor, [row])
    except IntegrityError as e:
        raise Conflict(f"name: a resource group '{body.name}' exists already") from e
    return out


async def update_group(m: Manager, actor: Actor, name: str, body: ResourceGroupUpdate
                       ) -> ResourceGroupOut:
    require_admin(actor, "change resource groups")
    errors: list[RuleError] = []
    async with transaction(m.db) as db:
        row = await _find(db, actor, name, lock=True)
        project_ids, user_ids = await _resolve_access(db, body.projects, body.users, errors)
        if errors:
            raise RuleErrors(errors)
        for key in ("description", "is_active", "scheduler", "agent_selection",
                    "pending_timeout", "accelerator_policy", "allow_sudo"):
            if (value := getattr(body, key)) is not None:
                setattr(row, key, value)
        if body.accelerator_quantum is not None:
            row.accelerator_quantum = format(body.accelerator_quantum.normalize(), "f")
        if body.allowed_session_types is not None:
            row.allowed_session_types = _types(body.allowed_session_types)
        for key in IDLE_FIELDS:  # null unsets
            if key in body.model_fields_set:
                setattr(row, key, getattr(body, key))
        await _set_access(db, row.name, None if body.projects is None else project_ids,
                          None if body.users is None else user_ids)
        await db.flush()
        [out] = await _outs(db, actor, [row])
    return out


async def delete_group(m: Manager, actor: Actor, name: str) -> None:
    """Raises Conflict for the default group, or while agents belong to the group or its
    sessions have not ended. Its presets and access lists go with it; ended sessions keep
    its name."""
    require_admin(actor, "delete resource groups")
    try:
        async with transaction(m.db) as db:
            row = await _find(db, actor, name, lock=True)
            if row.name == DEFAULT_GROUP:
                raise Conflict("the default resource group cannot be deleted")
            agents = await db.scalar(select(func.count()).select_from(AgentRow)
                                     .where(AgentRow.resource_group == name)) or 0
            if agents:
                raise Conflict(f"resource group '{name}' has {agents} agents; move them first")
            active = await db.scalar(select(func.count()).select_from(SessionRow).where(
                SessionRow.resource_group == name, SessionRow.status.not_in(ENDED))) or 0
            if active:
                raise Conflict(f"resource group '{name}' has {active} sessions not yet ended")
            await _set_access(db, name, [], [])
            await db.execute(delete(ResourcePresetRow)
                             .where(ResourcePresetRow.resource_group == name))
            await db.delete(row)
    except IntegrityError as e:  # a row referring to it was added meanwhile
        raise Conflict(f"resource group '{name}' came into use meanwhile; try again") from e
