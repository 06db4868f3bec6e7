"""Resource presets: named per-kernel resource sets the launcher offers, global or for one
resource group. Admins manage them; users see the global ones and those of groups they may
use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import policy as pol
from berth.domain import slots as sl
from berth.domain.rules import RuleError, RuleErrors
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import ResourceGroupRow, ResourcePresetRow
from berth.manager.schemas_admin import PresetCreate, PresetOut, PresetUpdate
from berth.manager.services.errors import Conflict, NotFound
from berth.manager.services.policies import require_admin
from berth.manager.services.resource_groups import visible_groups


def out(row: ResourcePresetRow) -> PresetOut:
    return PresetOut(id=row.id, name=row.name, resource_group=row.resource_group,
                     slots=dict(row.slots))


async def presets_for(db: AsyncSession, group: str | None) -> list[ResourcePresetRow]:
    """The global presets and, with ``group``, that group's; by name (global first)."""
    query = select(ResourcePresetRow)
    if group is not None:
        query = query.where(or_(ResourcePresetRow.resource_group.is_(None),
                                ResourcePresetRow.resource_group == group))
    rows = (await db.scalars(query)).all()
    return sorted(rows, key=lambda r: (r.resource_group is not None, r.resource_group or "",
                                       r.name))


async def list_presets(m: Manager, actor: Actor, group: str | None) -> list[PresetOut]:
    """With ``group``: the global presets and that group's (NotFound for a group the actor
    may not see); without: every preset the actor may see."""
    async with m.db() as db:
        visible = await visible_groups(db, actor)
        if group is not None and (
                await db.get(ResourceGroupRow, group) is None
                or (visible is not None and group not in visible)):
            raise NotFound(f"no resource group '{group}'")
        rows = await presets_for(db, group)
    return [out(r) for r in rows if r.resource_group is None or visible is None
            or r.resource_group in visible]


def _slots(values: dict[str, Any], errors: list[RuleError]) -> dict[str, str]:
    parsed = pol.parse_preset_slots(values, sl.requestable_slots())
    if isinstance(parsed, list):
        errors.extend(parsed)
        return {}
    return sl.to_json(parsed)


async def _clash(db: AsyncSession, name: str, group: str | None, own_id: str | None) -> None:
    query = select(ResourcePresetRow.id).where(
        ResourcePresetRow.name == name,
        ResourcePresetRow.resource_group.is_(None) if group is None
        else ResourcePresetRow.resource_group == group)
    found = await db.scalar(query)
    if found is not None and found != own_id:
        where = f"resource group '{group}'" if group else "the global presets"
        raise Conflict(f"name: {where} already have a preset '{name}'")


async def create_preset(m: Manager, actor: Actor, body: PresetCreate) -> PresetOut:
    """Raises Forbidden, RuleErrors (name, group, slots) or Conflict (the name is taken in
    its scope)."""
    require_admin(actor, "create presets")
    errors: list[RuleError] = []
    if problem := pol.entity_name_problem(body.name):
        errors.append(RuleError("name", problem))
    slots = _slots(body.slots, errors)
    try:
        async with transaction(m.db) as db:
            if body.resource_group is not None and await db.get(
                    ResourceGroupRow, body.resource_group) is None:
                errors.append(RuleError("resource_group",
                                        f"no resource group '{body.resource_group}'"))
            if errors:
                raise RuleErrors(errors)
            await _clash(db, body.name, body.resource_group, None)
            row = ResourcePresetRow(name=body.name, resource_group=body.resource_group,
                                    slots=slots)
            db.add(row)
            await db.flush()
    except IntegrityError as e:
        raise Conflict(f"name: a preset '{body.name}' exists already") from e
    return out(row)


async def update_preset(m: Manager, actor: Actor, preset_id: str, body: PresetUpdate
                        ) -> PresetOut:
    """Change the name, group (null: global) or slots given."""
    require_admin(actor, "change presets")
    given = body.model_fields_set
    errors: list[RuleError] = []
    if body.name is not None and (problem := pol.entity_name_problem(body.name)):
        errors.append(RuleError("name", problem))
    slots = _slots(body.slots, errors) if body.slots is not None else None
    try:
        async with transaction(m.db) as db:
            row = await db.get(ResourcePresetRow, preset_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no preset {preset_id}")
            group = body.resource_group if "resource_group" in given else row.resource_group
            if group is not None and await db.get(ResourceGroupRow, group) is None:
                errors.append(RuleError("resource_group", f"no resource group '{group}'"))
            if errors:
                raise RuleErrors(errors)
            name = body.name if body.name is not None else row.name
            await _clash(db, name, group, row.id)
            row.name, row.resource_group = name, group
            if slots is not None:
                row.slots = slots
            await db.flush()
    except IntegrityError as e:
        raise Conflict(f"name: a preset '{body.name}' exists already") from e
    return out(row)


async def delete_preset(m: Manager, actor: Actor, preset_id: str) -> None:
    require_admin(actor, "delete presets")
    async with transaction(m.db) as db:
        row = await db.get(ResourcePresetRow, preset_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no preset {preset_id}")
        await db.delete(row)
