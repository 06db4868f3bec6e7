"""Projects, resource groups, presets, resource policies (admin CRUD; users read what they may
use) and the resource check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from berth.domain.rules import RuleErrors
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas_admin import (
    CheckOut,
    MemberIn,
    MemberOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    PresetCreate,
    PresetOut,
    PresetUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    ResourceGroupCreate,
    ResourceGroupOut,
    ResourceGroupUpdate,
)
from berth.manager.services import policies, presets, projects, resource_check, resource_groups

router = APIRouter(prefix="/api")
Responses = dict[int | str, dict[str, Any]]
ADMIN: Responses = {403: {"description": "Not an admin"}}
MISSING: Responses = {404: {"description": "No such thing visible to you"}}
CLASH: Responses = {409: {"description": "The name is taken, or it is in use"}}
Name = Annotated[str, Query(max_length=64)]


# ---- projects ------------------------------------------------------------------------------
@router.get("/projects", tags=["projects"])
async def list_projects(actor: ActorDep, m: ManagerDep) -> list[ProjectOut]:
    """Your projects (admins: every project), by name."""
    return await projects.list_projects(m, actor)


@router.post("/projects", status_code=201, tags=["projects"], responses={**ADMIN, **CLASH})
async def create_project(body: ProjectCreate, actor: ActorDep, m: ManagerDep) -> ProjectOut:
    return await projects.create_project(m, actor, body)


@router.get("/projects/{name}", tags=["projects"], responses=MISSING)
async def get_project(name: str, actor: ActorDep, m: ManagerDep) -> ProjectOut:
    """A project by name (or id): yours, or any for admins."""
    return await projects.get_project(m, actor, name)


@router.patch("/projects/{name}", tags=["projects"], responses={**ADMIN, **MISSING, **CLASH})
async def update_project(name: str, body: ProjectUpdate, actor: ActorDep,
                         m: ManagerDep) -> ProjectOut:
    """Rename, describe, (de)activate, or set the resource policy (null: none)."""
    return await projects.update_project(m, actor, name, body)


@router.delete("/projects/{name}", status_code=204, tags=["projects"],
               responses={**ADMIN, **MISSING, **CLASH})
async def delete_project(name: str, actor: ActorDep, m: ManagerDep) -> None:
    """Refused (409) for the default project and while the project has sessions (ended ones
    too: deactivate it instead) or folders."""
    await projects.delete_project(m, actor, name)


@router.get("/projects/{name}/members", tags=["projects"], responses=MISSING)
async def list_members(name: str, actor: ActorDep, m: ManagerDep) -> list[MemberOut]:
    return await projects.list_members(m, actor, name)


@router.post("/projects/{name}/members", status_code=201, tags=["projects"],
             responses={**ADMIN, **MISSING, **CLASH})
async def add_member(name: str, body: MemberIn, actor: ActorDep, m: ManagerDep) -> MemberOut:
    return await projects.add_member(m, actor, name, body.email)


@router.delete("/projects/{name}/members/{user_id}", status_code=204, tags=["projects"],
               responses={**ADMIN, **MISSING})
async def remove_member(name: str, user_id: str, actor: ActorDep, m: ManagerDep) -> None:
    await projects.remove_member(m, actor, name, user_id)


# ---- resource groups -----------------------------------------------------------------------
@router.get("/resource-groups", tags=["resource groups"])
async def list_groups(actor: ActorDep, m: ManagerDep) -> list[ResourceGroupOut]:
    """The active groups you may use (admins: every group, with their access lists)."""
    return await resource_groups.list_groups(m, actor)


@router.post("/resource-groups", status_code=201, tags=["resource groups"],
             responses={**ADMIN, **CLASH})
async def create_group(body: ResourceGroupCreate, actor: ActorDep,
                       m: ManagerDep) -> ResourceGroupOut:
    return await resource_groups.create_group(m, actor, body)


@router.get("/resource-groups/{name}", tags=["resource groups"], responses=MISSING)
async def get_group(name: str, actor: ActorDep, m: ManagerDep) -> ResourceGroupOut:
    return await resource_groups.get_group(m, actor, name)


@router.patch("/resource-groups/{name}", tags=["resource groups"],
              responses={**ADMIN, **MISSING})
async def update_group(name: str, body: ResourceGroupUpdate, actor: ActorDep,
                       m: ManagerDep) -> ResourceGroupOut:
    """Change settings; ``projects``/``users`` replace the access lists (both empty: the
    group is open to every user)."""
    return await resource_groups.update_group(m, actor, name, body)


@router.delete("/resource-groups/{name}", status_code=204, tags=["resource groups"],
               responses={**ADMIN, **MISSING, **CLASH})
async def delete_group(name: str, actor: ActorDep, m: ManagerDep) -> None:
    """Refused (409) for the default group and while agents are in it or its sessions have
    not ended. Its presets go with it."""
    await resource_groups.delete_group(m, actor, name)


# ---- presets -------------------------------------------------------------------------------
@router.get("/resource-presets", tags=["presets"], responses=MISSING)
async def list_presets(actor: ActorDep, m: ManagerDep,
                       resource_group: Name | None = None) -> list[PresetOut]:
    """The global presets and ``resource_group``'s; without it, every preset you may see."""
    return await presets.list_presets(m, actor, resource_group)


@router.post("/resource-presets", status_code=201, tags=["presets"],
             responses={**ADMIN, **CLASH})
async def create_preset(body: PresetCreate, actor: ActorDep, m: ManagerDep) -> PresetOut:
    return await presets.create_preset(m, actor, body)


@router.patch("/resource-presets/{preset_id}", tags=["presets"],
              responses={**ADMIN, **MISSING, **CLASH})
async def update_preset(preset_id: str, body: PresetUpdate, actor: ActorDep,
                        m: ManagerDep) -> PresetOut:
    return await presets.update_preset(m, actor, preset_id, body)


@router.delete("/resource-presets/{preset_id}", status_code=204, tags=["presets"],
               responses={**ADMIN, **MISSING})
async def delete_preset(preset_id: str, actor: ActorDep, m: ManagerDep) -> None:
    await presets.delete_preset(m, actor, preset_id)


# ---- resource policies ---------------------------------------------------------------------
@router.get("/resource-policies", tags=["resource policies"], responses=ADMIN)
async def list_policies(actor: ActorDep, m: ManagerDep) -> list[PolicyOut]:
    return await policies.list_policies(m, actor)


@router.post("/resource-policies", status_code=201, tags=["resource policies"],
             responses={**ADMIN, **CLASH})
async def create_policy(body: PolicyCreate, actor: ActorDep, m: ManagerDep) -> PolicyOut:
    """A field left out or null: no limit. Give it to users with ``PATCH /api/users/{id}``
    and to projects with ``PATCH /api/projects/{name}``."""
    return await policies.create_policy(m, actor, body)


@router.get("/resource-policies/{name}", tags=["resource policies"],
            responses={**ADMIN, **MISSING})
async def get_policy(name: str, actor: ActorDep, m: ManagerDep) -> PolicyOut:
    return await policies.get_policy(m, actor, name)


@router.patch("/resource-policies/{name}", tags=["resource policies"],
              responses={**ADMIN, **MISSING})
async def update_policy(name: str, body: PolicyUpdate, actor: ActorDep,
                        m: ManagerDep) -> PolicyOut:
    """The fields given change; null removes a limit."""
    return await policies.update_policy(m, actor, name, body)


@router.delete("/resource-policies/{name}", status_code=204, tags=["resource policies"],
               responses={**ADMIN, **MISSING, **CLASH})
async def delete_policy(name: str, actor: ActorDep, m: ManagerDep) -> None:
    """Refused (409) while users or projects have it."""
    await policies.delete_policy(m, actor, name)


# ---- the resource check --------------------------------------------------------------------
@router.get("/resource-check", tags=["resource groups"],
            responses={**MISSING, 403: {"description": "owner_email from a non-admin"}})
async def resource_check_(
    actor: ActorDep, m: ManagerDep,
    resource_group: Name = "default",
    project: Annotated[str | None, Query(max_length=64, description="A project's name or "
                                         "id; default: your default project.")] = None,
    owner_email: Annotated[str | None, Query(max_length=254, description="Admins: check for "
                                             "this user.")] = None,
) -> CheckOut:
    """What you may use in ``resource_group`` for ``project``: the presets (and whether each
    could start now), the limits, usage and what remains for you, the project and the group,
    the most one container can get, and the group's agents with what they have free."""
    try:
        return await resource_check.check(m, actor, resource_group, project, owner_email)
    except RuleErrors as e:  # query parameters, not body fields
        raise RequestValidationError([
            {"loc": ("query", err.field), "msg": err.message, "type": "value_error"}
            for err in e.errors]) from e
