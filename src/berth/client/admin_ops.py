"""What the admin operations send (projects, resource groups, presets, policies, agents, the
user lookup, the resource check), shared by both clients like
:mod:`berth.client.operations`; :data:`ADMIN_OPERATIONS` maps each to its SDK method and is
part of :data:`berth.client.operations.OPERATIONS`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

Call = tuple[str, str, dict[str, Any]]

ADMIN_OPERATIONS: dict[str, str] = {
    "GET /api/projects": "list_projects",
    "POST /api/projects": "create_project",
    "GET /api/projects/{name}": "get_project",
    "PATCH /api/projects/{name}": "update_project",
    "DELETE /api/projects/{name}": "delete_project",
    "GET /api/projects/{name}/members": "project_members",
    "POST /api/projects/{name}/members": "add_project_member",
    "DELETE /api/projects/{name}/members/{user_id}": "remove_project_member",
    "GET /api/resource-groups": "list_resource_groups",
    "POST /api/resource-groups": "create_resource_group",
    "GET /api/resource-groups/{name}": "get_resource_group",
    "PATCH /api/resource-groups/{name}": "update_resource_group",
    "DELETE /api/resource-groups/{name}": "delete_resource_group",
    "GET /api/resource-presets": "list_presets",
    "POST /api/resource-presets": "create_preset",
    "PATCH /api/resource-presets/{preset_id}": "update_preset",
    "DELETE /api/resource-presets/{preset_id}": "delete_preset",
    "GET /api/resource-policies": "list_policies",
    "POST /api/resource-policies": "create_policy",
    "GET /api/resource-policies/{name}": "get_policy",
    "PATCH /api/resource-policies/{name}": "update_policy",
    "DELETE /api/resource-policies/{name}": "delete_policy",
    "GET /api/resource-check": "check_resources",
    "GET /api/users/lookup": "lookup_user",
    "PATCH /api/users/{user_id}": "update_user",
    "PATCH /api/agents/{agent_id}": "update_agent",
}


def seg(value: str) -> str:
    return quote(value, safe="")


def project_path(name: str, rest: str = "") -> str:
    return f"/api/projects/{seg(name)}{rest}"


def group_path(name: str) -> str:
    return f"/api/resource-groups/{seg(name)}"


def preset_path(preset_id: str) -> str:
    return f"/api/resource-presets/{seg(preset_id)}"


def policy_path(name: str) -> str:
    return f"/api/resource-policies/{seg(name)}"


def admin_get(path: str) -> Call:
    return "GET", path, {}


def admin_patch(path: str, fields: dict[str, Any]) -> Call:
    """The fields as given: None is sent as null (it clears what may be cleared)."""
    return "PATCH", path, {"json": fields}


def admin_delete(path: str) -> Call:
    return "DELETE", path, {}


def create_named(path: str, name: str, fields: dict[str, Any]) -> Call:
    return "POST", path, {"json": {"name": name, **fields}}


def create_project(name: str, description: str, resource_policy: str | None) -> Call:
    body = {"name": name, "description": description, "resource_policy": resource_policy}
    return "POST", "/api/projects", {"json": body}


def add_project_member(name: str, email: str) -> Call:
    return "POST", project_path(name, "/members"), {"json": {"email": email}}


def list_presets(resource_group: str | None) -> Call:
    params = {"resource_group": resource_group} if resource_group is not None else {}
    return "GET", "/api/resource-presets", {"params": params}


def create_preset(name: str, slots: dict[str, Any], resource_group: str | None) -> Call:
    body = {"name": name, "slots": slots, "resource_group": resource_group}
    return "POST", "/api/resource-presets", {"json": body}


def check_resources(resource_group: str, project: str | None, owner_email: str | None) -> Call:
    params = {k: v for k, v in (("resource_group", resource_group), ("project", project),
                                ("owner_email", owner_email)) if v is not None}
    return "GET", "/api/resource-check", {"params": params}


def lookup_user(email: str) -> Call:
    return "GET", "/api/users/lookup", {"params": {"email": email}}


def update_agent(agent_id: str, schedulable: bool | None, resource_group: str | None) -> Call:
    body = {k: v for k, v in (("schedulable", schedulable),
                              ("resource_group", resource_group)) if v is not None}
    return "PATCH", f"/api/agents/{seg(agent_id)}", {"json": body}
