"""Resource policies: admin CRUD, assigning them to users, and reading the limits that apply
to a user or a project (for session creation, folders and the check API). The rules are
:mod:`berth.domain.policy`'s; this module loads and writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import policy as pol
from berth.domain import slots as sl
from berth.domain.rules import RuleError, RuleErrors
from berth.manager.auth import Actor, Role
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import ProjectRow, ResourcePolicyRow, UserRow
from berth.manager.schemas_admin import PolicyCreate, PolicyOut, PolicyUpdate, UserUpdate
from berth.manager.services.errors import Conflict, Forbidden, NotFound

#: The limits (besides ``total_slots``) a policy has, as columns.
LIMIT_FIELDS = ("max_concurrent_sessions", "max_pending_sessions", "max_containers_per_session",
                "max_session_lifetime", "idle_timeout", "max_folders", "max_customized_images")
#: The idle-check settings besides ``max_session_lifetime`` and ``idle_timeout`` (see
#: :mod:`berth.manager.services.idle`; None: the group's).
IDLE_FIELDS = ("utilization_window", "grace_period", "utilization_thresholds",
               "utilization_combine", "warn_before")


def require_admin(actor: Actor, what: str = "do this") -> None:
    """Raises Forbidden (403) unless ``actor`` is an admin or a superadmin."""
    if not actor.is_admin:
        raise Forbidden(f"only admins may {what}")


def limits_of(row: ResourcePolicyRow | None) -> pol.PolicyLimits | None:
    """The domain's view of a policy row (a stored amount that is not a number is left out:
    it limits nothing rather than breaking every launch)."""
    if row is None:
        return None
    totals: sl.Slots = {}
    for key, value in (row.total_slots or {}).items():
        try:
            totals[key] = sl.from_json({key: value})[key]
        except (ArithmeticError, TypeError, ValueError):
            continue
    return pol.PolicyLimits(row.name, totals, **{f: getattr(row, f) for f in LIMIT_FIELDS})


async def policy_of(db: AsyncSession, name: str | None) -> pol.PolicyLimits | None:
    return limits_of(await db.get(ResourcePolicyRow, name)) if name else None


def _slots_or_errors(values: dict[str, Any] | None) -> tuple[dict[str, str], list[RuleError]]:
    if not values:
        return {}, []
    parsed = pol.parse_policy_slots(values, sl.requestable_slots())
    if isinstance(parsed, list):
        return {}, parsed
    return sl.to_json(parsed), []


async def _out(db: AsyncSession, row: ResourcePolicyRow) -> PolicyOut:
    users = await db.scalar(select(func.count()).select_from(UserRow)
                            .where(UserRow.resource_policy == row.name)) or 0
    projects = await db.scalar(select(func.count()).select_from(ProjectRow)
                               .where(ProjectRow.resource_policy == row.name)) or 0
    return PolicyOut(name=row.name, description=row.description, total_slots=row.total_slots,
                     users=int(users), projects=int(projects), created_at=row.created_at,
                     **{f: getattr(row, f) for f in (*LIMIT_FIELDS, *IDLE_FIELDS)})


async def list_policies(m: Manager, actor: Actor) -> list[PolicyOut]:
    require_admin(actor, "see resource policies")
    async with m.db() as db:
        rows = (await db.scalars(select(ResourcePolicyRow)
                                 .order_by(ResourcePolicyRow.name))).all()
        return [await _out(db, r) for r in rows]


async def get_policy(m: Manager, actor: Actor, name: str) -> PolicyOut:
    require_admin(actor, "see resource policies")
    async with m.db() as db:
        row = await db.get(ResourcePolicyRow, name)
        if row is None:
            raise NotFound(f"no resource policy '{name}'")
        return await _out(db, row)


async def create_policy(m: Manager, actor: Actor, body: PolicyCreate) -> PolicyOut:
    """Raises Forbidden, RuleErrors (422: the name, the slots) or Conflict (the name)."""
    require_admin(actor, "create resource policies")
    errors = []
    if problem := pol.entity_name_problem(body.name):
        errors.append(RuleError("name", problem))
    totals, slot_errors = _slots_or_errors(body.total_slots)
    if errors := errors + slot_errors:
        raise RuleErrors(errors)
    try:
        async with transaction(m.db) as db:
            if await db.get(ResourcePolicyRow, body.name) is not None:
                raise Conflict(f"name: a resource policy '{body.name}' exists already")
            row = ResourcePolicyRow(name=body.name, description=body.description or "",
                                    total_slots=totals,
                                    **{f: getattr(body, f)
                                       for f in (*LIMIT_FIELDS, *IDLE_FIELDS)})
            db.add(row)
            await db.flush()
            return await _out(db, row)
    except IntegrityError as e:
        raise Conflict(f"name: a resource policy '{body.name}' exists already") from e


async def update_policy(m: Manager, actor: Actor, name: str, body: PolicyUpdate) -> PolicyOut:
    """Change the fields given; null removes a limit (``total_slots`` null or {}: none)."""
    require_admin(actor, "change resource policies")
    given = body.model_fields_set
    totals, errors = _slots_or_errors(body.total_slots)
    if errors:
        raise RuleErrors(errors)
    async with transaction(m.db) as db:
        row = await db.get(ResourcePolicyRow, name, with_for_update=True)
        if row is None:
            raise NotFound(f"no resource policy '{name}'")
        if body.description is not None:
            row.description = body.description
        if "total_slots" in given:
            row.total_slots = totals
        for f in (*LIMIT_FIELDS, *IDLE_FIELDS):
            if f in given:
                setattr(row, f, getattr(body, f))
        await db.flush()
        return await _out(db, row)


async def delete_policy(m: Manager, actor: Actor, name: str) -> None:
    """Raises NotFound, or Conflict while users or projects have the policy."""
    require_admin(actor, "delete resource policies")
    try:
        async with transaction(m.db) as db:
            row = await db.get(ResourcePolicyRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"no resource policy '{name}'")
            out = await _out(db, row)
            if out.users or out.projects:
                raise Conflict(f"resource policy '{name}' is in use by {out.users} users and "
                               f"{out.projects} projects; give them another policy first")
            await db.delete(row)
    except IntegrityError as e:  # a row referring to it was added meanwhile
        raise Conflict(f"resource policy '{name}' came into use meanwhile; try again") from e


async def update_user(m: Manager, actor: Actor, user_id: str, body: UserUpdate) -> UserRow:
    """Admins: set a user's resource policy (null: none), name or active flag. Only a
    superadmin may change an admin's account. Raises Forbidden, NotFound, RuleErrors."""
    require_admin(actor, "change users")
    given = body.model_fields_set
    async with transaction(m.db) as db:
        row = await db.get(UserRow, user_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no user {user_id}")
        if row.role != Role.USER and not actor.is_superadmin and row.id != actor.id:
            raise Forbidden("only a superadmin may change an admin's account")
        if "resource_policy" in given:
            if body.resource_policy is not None and await db.get(
                    ResourcePolicyRow, body.resource_policy) is None:
                raise RuleErrors([RuleError("resource_policy", "no resource policy "
                                            f"'{body.resource_policy}'")])
            row.resource_policy = body.resource_policy
        if body.full_name is not None:
            row.full_name = body.full_name
        if body.is_active is not None:
            if row.id == actor.id and not body.is_active:
                raise RuleErrors([RuleError("is_active", "you cannot deactivate yourself")])
            row.is_active = body.is_active
    return row
