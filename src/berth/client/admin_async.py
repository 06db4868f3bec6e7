"""Projects, resource groups, presets, policies, agents and the resource check for
:class:`~berth.client.AsyncClient`: the methods of :class:`~berth.client.admin.AdminMethods`,
awaited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from berth.client import admin_ops as op


class AsyncAdminMethods:
    """As :class:`~berth.client.admin.AdminMethods`, awaited."""

    http: httpx.AsyncClient
    if TYPE_CHECKING:
        async def _do(self, call: op.Call) -> Any: ...

    async def list_projects(self) -> list[dict[str, Any]]:
        """Your projects (admins: every project)."""
        result: list[dict[str, Any]] = await self._do(op.admin_get("/api/projects"))
        return result

    async def create_project(self, name: str, description: str = "",
                             resource_policy: str | None = None) -> dict[str, Any]:
        """A new project (admins); ``resource_policy``: a policy's name."""
        result: dict[str, Any] = await self._do(
            op.create_project(name, description, resource_policy))
        return result

    async def get_project(self, name: str) -> dict[str, Any]:
        """A project by name or id."""
        result: dict[str, Any] = await self._do(op.admin_get(op.project_path(name)))
        return result

    async def update_project(self, project: str, **fields: Any) -> dict[str, Any]:
        """Change a project (admins; ``project``: its name or id): ``name``,
        ``description``, ``is_active``, ``resource_policy`` (None: no policy)."""
        result: dict[str, Any] = await self._do(op.admin_patch(op.project_path(project), fields))
        return result

    async def delete_project(self, name: str) -> None:
        """Delete a project without sessions or folders (admins)."""
        await self._do(op.admin_delete(op.project_path(name)))

    async def project_members(self, name: str) -> list[dict[str, Any]]:
        """A project's members."""
        result: list[dict[str, Any]] = await self._do(
            op.admin_get(op.project_path(name, "/members")))
        return result

    async def add_project_member(self, name: str, email: str) -> dict[str, Any]:
        """Add a user to a project (admins)."""
        result: dict[str, Any] = await self._do(op.add_project_member(name, email))
        return result

    async def remove_project_member(self, name: str, user_id: str) -> None:
        """Remove a user from a project (admins)."""
        await self._do(op.admin_delete(op.project_path(name, f"/members/{op.seg(user_id)}")))

    async def list_resource_groups(self) -> list[dict[str, Any]]:
        """The resource groups you may use (admins: all, with their access lists)."""
        result: list[dict[str, Any]] = await self._do(op.admin_get("/api/resource-groups"))
        return result

    async def create_resource_group(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new resource group (admins); ``fields`` as in the API's
        ResourceGroupCreate (scheduler, agent_selection, allowed_session_types,
        pending_timeout, projects, users...)."""
        result: dict[str, Any] = await self._do(
            op.create_named("/api/resource-groups", name, fields))
        return result

    async def get_resource_group(self, name: str) -> dict[str, Any]:
        """One resource group."""
        result: dict[str, Any] = await self._do(op.admin_get(op.group_path(name)))
        return result

    async def update_resource_group(self, group: str, **fields: Any) -> dict[str, Any]:
        """Change resource group ``group`` (admins); ``projects``/``users`` replace its
        access lists."""
        result: dict[str, Any] = await self._do(op.admin_patch(op.group_path(group), fields))
        return result

    async def delete_resource_group(self, name: str) -> None:
        """Delete a resource group without agents or live sessions (admins)."""
        await self._do(op.admin_delete(op.group_path(name)))

    async def list_presets(self, resource_group: str | None = None) -> list[dict[str, Any]]:
        """The global presets and ``resource_group``'s (without it: every preset you
        may see)."""
        result: list[dict[str, Any]] = await self._do(op.list_presets(resource_group))
        return result

    async def create_preset(self, name: str, slots: dict[str, Any],
                            resource_group: str | None = None) -> dict[str, Any]:
        """A new preset (admins): ``slots`` per kernel, e.g. ``{"cpu": 2, "mem": "4g"}``;
        ``resource_group`` None: global."""
        result: dict[str, Any] = await self._do(op.create_preset(name, slots, resource_group))
        return result

    async def update_preset(self, preset_id: str, **fields: Any) -> dict[str, Any]:
        """Change a preset (admins): ``name``, ``resource_group`` (None: global),
        ``slots``."""
        result: dict[str, Any] = await self._do(op.admin_patch(op.preset_path(preset_id), fields))
        return result

    async def delete_preset(self, preset_id: str) -> None:
        """Delete a preset (admins)."""
        await self._do(op.admin_delete(op.preset_path(preset_id)))

    async def list_policies(self) -> list[dict[str, Any]]:
        """Every resource policy (admins)."""
        result: list[dict[str, Any]] = await self._do(op.admin_get("/api/resource-policies"))
        return result

    async def create_policy(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new resource policy (admins); ``fields`` as in the API's PolicyCreate
        (total_slots, max_concurrent_sessions, ...); left out: no limit."""
        result: dict[str, Any] = await self._do(
            op.create_named("/api/resource-policies", name, fields))
        return result

    async def get_policy(self, name: str) -> dict[str, Any]:
        """One resource policy (admins)."""
        result: dict[str, Any] = await self._do(op.admin_get(op.policy_path(name)))
        return result

    async def update_policy(self, policy: str, **fields: Any) -> dict[str, Any]:
        """Change resource policy ``policy`` (admins); a field given as None removes that limit."""
        result: dict[str, Any] = await self._do(op.admin_patch(op.policy_path(policy), fields))
        return result

    async def delete_policy(self, name: str) -> None:
        """Delete a resource policy no user or project has (admins)."""
        await self._do(op.admin_delete(op.policy_path(name)))

    async def check_resources(self, resource_group: str = "default", project: str | None = None,
                              owner_email: str | None = None) -> dict[str, Any]:
        """What you may use in a group for a project: presets (allocatable now or
        not), limits, usage and what remains for you, the project and the group, and the
        group's agents. Admins may ask for another user (``owner_email``)."""
        result: dict[str, Any] = await self._do(
            op.check_resources(resource_group, project, owner_email))
        return result

    async def lookup_user(self, email: str) -> dict[str, Any]:
        """Admins: a user by email, with their projects and resource groups."""
        result: dict[str, Any] = await self._do(op.lookup_user(email))
        return result

    async def update_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Admins: set a user's ``resource_policy`` (None: none), ``full_name`` or
        ``is_active``."""
        result: dict[str, Any] = await self._do(
            op.admin_patch(f"/api/users/{op.seg(user_id)}", fields))
        return result

    async def update_agent(self, agent_id: str, schedulable: bool | None = None,
                           resource_group: str | None = None) -> dict[str, Any]:
        """Admins: take an agent out of scheduling (``schedulable=False``) or back,
        or move it to another resource group."""
        result: dict[str, Any] = await self._do(
            op.update_agent(agent_id, schedulable, resource_group))
        return result
