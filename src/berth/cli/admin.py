"""``berth admin ...`` (projects, resource groups, presets, policies, agents, users' policies);
``berth resources ...`` is in :mod:`berth.cli.resources`."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.table import Table

from berth.cli.common import bad_option, client, console, handle_errors, print_json, size
from berth.cli.idle_options import (
    IDLE_FIELDS,
    Combine,
    GracePeriod,
    IdleTimeout,
    MaxLifetime,
    Utilization,
    UtilizationWindow,
    WarnBefore,
    idle_fields,
)
from berth.domain import rules
from berth.domain.rules import RuleError

app = typer.Typer(help="Administration: projects, resource groups, presets, resource "
                  "policies, agents (admins; users may list what they may use).",
                  no_args_is_help=True)
project_app = typer.Typer(help="Projects and their members.", no_args_is_help=True)
group_app = typer.Typer(help="Resource groups: settings and who may use them.",
                        no_args_is_help=True)
preset_app = typer.Typer(help="Resource presets the launcher offers.", no_args_is_help=True)
policy_app = typer.Typer(help="Resource policies: limits for users and projects.",
                         no_args_is_help=True)
agent_app = typer.Typer(help="Agents: take them out of scheduling, move them.",
                        no_args_is_help=True)
user_app = typer.Typer(help="Users' resource policies and lookup.", no_args_is_help=True)
for sub, name in ((project_app, "project"), (group_app, "group"), (preset_app, "preset"),
                  (policy_app, "policy"), (agent_app, "agent"), (user_app, "user")):
    app.add_typer(sub, name=name)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Description = Annotated[str | None, typer.Option(help="A short description.")]
SlotOpt = Annotated[list[str] | None, typer.Option(
    "--slot", help="Another resource slot as NAME=AMOUNT (an accelerator's); repeat.")]


# ---- shared helpers --------------------------------------------------------------------------
def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise bad_option(option, f"'{item}' is not NAME=AMOUNT")
        found[key.strip()] = value.strip()
    return found


def _slots(cpu: float | None, mem: str | None, shmem: str | None,
           extra: list[str] | None) -> dict[str, Any]:
    slots: dict[str, Any] = {}
    if cpu is not None:
        if not math.isfinite(cpu):
            raise bad_option("--cpu", "must be a finite number")
        slots["cpu"] = cpu
    if mem is not None:
        slots["mem"] = mem
    if shmem is not None:
        slots["shmem"] = shmem
    slots.update(_pairs(extra, "--slot"))
    return slots


def _seconds(text: str | None, option: str) -> int | None:
    """A duration such as 90m or 2h as whole seconds (None: not given)."""
    if text is None:
        return None
    try:
        return math.ceil(rules.parse_duration(text, option).total_seconds())
    except RuleError as e:
        raise bad_option(option, e.message) from None


def _show_slots(slots: dict[str, str]) -> str:
    parts = []
    for key, value in sorted(slots.items()):
        parts.append(f"{key} {size(value)}" if key in ("mem", "shmem") else f"{key} {value}")
    return ", ".join(parts) or "-"


def _or_dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], json: bool,
           empty: str) -> None:
    if json:
        print_json(rows)
        return
    if not rows:
        console.print(empty)
        return
    table = Table(*[title for title, _ in columns])
    for row in rows:
        table.add_row(*[_cell(row, key) for _, key in columns])
    console.print(table)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if isinstance(value, dict):
        return _show_slots(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return _or_dash(value)


# ---- projects --------------------------------------------------------------------------------
PROJECT_COLUMNS = [("name", "name"), ("active", "is_active"), ("policy", "resource_policy"),
                   ("members", "members_count"), ("description", "description"), ("id", "id")]


@project_app.command("list")
@handle_errors
def project_list(json: Json = False) -> None:
    """Your projects (admins: every project)."""
    with client() as berth:
        _table(berth.list_projects(), PROJECT_COLUMNS, json, "No projects.")


@project_app.command("create")
@handle_errors
def project_create(
    name: Annotated[str, typer.Argument(help="1-64 characters: letters, digits, . _ -")],
    description: Description = None,
    policy: Annotated[str | None, typer.Option(help="A resource policy's name.")] = None,
) -> None:
    """Create a project (admins)."""
    with client() as berth:
        p = berth.create_project(name, description or "", policy)
    console.print(f"created project {p['name']} ({p['id']})")


@project_app.command("update")
@handle_errors
def project_update(
    project: Annotated[str, typer.Argument(help="The project's name or id.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Description = None,
    policy: Annotated[str | None, typer.Option(help="A resource policy's name.")] = None,
    no_policy: Annotated[bool, typer.Option("--no-policy", help="Remove its policy.")] = False,
    active: Annotated[bool | None, typer.Option("--active/--inactive",
                                                help="(De)activate it.")] = None,
) -> None:
    """Change a project (admins)."""
    fields: dict[str, Any] = {k: v for k, v in (("name", name), ("description", description),
                                                ("resource_policy", policy),
                                                ("is_active", active)) if v is not None}
    if no_policy:
        fields["resource_policy"] = None
    with client() as berth:
        p = berth.update_project(project, **fields)
    console.print(f"updated project {p['name']}")


@project_app.command("delete")
@handle_errors
def project_delete(project: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a project without sessions or folders (admins)."""
    with client() as berth:
        berth.delete_project(project)
    console.print(f"deleted project {project}")


@project_app.command("members")
@handle_errors
def project_members(project: str, json: Json = False) -> None:
    """A project's members."""
    with client() as berth:
        _table(berth.project_members(project), [("email", "email"), ("name", "full_name"),
                                                ("role", "role"), ("id", "id")],
               json, "No members.")


@project_app.command("add-member")
@handle_errors
def project_add_member(project: str, email: str) -> None:
    """Add a user (by email) to a project (admins)."""
    with client() as berth:
        m = berth.add_project_member(project, email)
    console.print(f"{m['email']} is a member of {project}")


@project_app.command("remove-member")
@handle_errors
def project_remove_member(project: str, email: str) -> None:
    """Remove a user (by email) from a project (admins)."""
    with client() as berth:
        found = [m for m in berth.project_members(project) if m["email"] == email.lower()]
        if not found:
            raise bad_option("EMAIL", f"{email} is not a member of {project}")
        berth.remove_project_member(project, found[0]["id"])
    console.print(f"removed {email} from {project}")


# ---- resource groups -------------------------------------------------------------------------
GROUP_COLUMNS = [("name", "name"), ("active", "is_active"), ("scheduler", "scheduler"),
                 ("selection", "agent_selection"), ("types", "allowed_session_types"),
                 ("pending timeout (s)", "pending_timeout"), ("sudo", "allow_sudo"),
                 ("lifetime (s)", "max_session_lifetime"), ("idle (s)", "idle_timeout"),
                 ("agents", "agents"),
                 ("projects", "projects"), ("users", "users")]
Scheduler = Annotated[str | None, typer.Option(help="fifo, lifo or drf.")]
Selection = Annotated[str | None, typer.Option("--agent-selection",
                                               help="dispersed or concentrated.")]
Types = Annotated[str | None, typer.Option("--types", help="Allowed session types, e.g. "
                                           "'batch' or 'interactive,batch'.")]
PendingTimeout = Annotated[str | None, typer.Option(
    "--pending-timeout", help="Cancel sessions waiting longer, e.g. 30m; 0: never.")]
Projects = Annotated[list[str] | None, typer.Option("--project", help="A project whose members "
                                                    "may use it; repeat.")]
Users = Annotated[list[str] | None, typer.Option("--user", help="A user (email) who may use "
                                                 "it; repeat.")]
Sudo = Annotated[bool | None, typer.Option(
    "--sudo/--no-sudo", help="Let the group's sessions use sudo (root in the container, e.g. to "
    "apt-get install before a commit to image). Off by default.")]


def _group_fields(description: str | None, scheduler: str | None, selection: str | None,
                  types: str | None, pending: str | None, active: bool | None,
                  sudo: bool | None) -> dict[str, Any]:
    fields: dict[str, Any] = {k: v for k, v in (
        ("description", description), ("scheduler", scheduler),
        ("agent_selection", selection), ("is_active", active), ("allow_sudo", sudo))
        if v is not None}
    if types is not None:
        fields["allowed_session_types"] = [t.strip() for t in types.split(",") if t.strip()]
    if pending is not None:
        fields["pending_timeout"] = 0 if pending.strip() == "0" else _seconds(
            pending, "--pending-timeout")
    return fields


@group_app.command("list")
@handle_errors
def group_list(json: Json = False) -> None:
    """Resource groups you may use (admins: every group, with who may use it)."""
    with client() as berth:
        _table(berth.list_resource_groups(), GROUP_COLUMNS, json, "No resource groups.")


@group_app.command("create")
@handle_errors
def group_create(
    name: str, description: Description = None, scheduler: Scheduler = None,
    agent_selection: Selection = None, types: Types = None,
    pending_timeout: PendingTimeout = None, project: Projects = None, user: Users = None,
    sudo: Sudo = None,
    max_lifetime: MaxLifetime = None, idle_timeout: IdleTimeout = None,
    utilization_window: UtilizationWindow = None, grace_period: GracePeriod = None,
    utilization: Utilization = None, combine: Combine = None, warn_before: WarnBefore = None,
) -> None:
    """Create a resource group (admins). Without --project/--user it is open to everyone.
    The idle-check options are the defaults of its sessions (policies may override them)."""
    fields = _group_fields(description, scheduler, agent_selection, types, pending_timeout,
                           None, sudo)
    fields |= idle_fields(max_lifetime, idle_timeout, utilization_window, grace_period,
                          utilization, combine, warn_before)
    with client() as berth:
        g = berth.create_resource_group(name, projects=project or [], users=user or [],
                                        **fields)
    console.print(f"created resource group {g['name']}")


@group_app.command("update")
@handle_errors
def group_update(
    name: str, description: Description = None, scheduler: Scheduler = None,
    agent_selection: Selection = None, types: Types = None,
    pending_timeout: PendingTimeout = None, project: Projects = None, user: Users = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it to everyone (clear its "
                                        "projects and users).")] = False,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    sudo: Sudo = None,
    max_lifetime: MaxLifetime = None, idle_timeout: IdleTimeout = None,
    utilization_window: UtilizationWindow = None, grace_period: GracePeriod = None,
    utilization: Utilization = None, combine: Combine = None, warn_before: WarnBefore = None,
    clear: Annotated[list[str] | None, typer.Option(
        "--clear", help=f"Unset an idle setting: one of {', '.join(IDLE_FIELDS)}; repeat."
    )] = None,
) -> None:
    """Change a resource group (admins); --project/--user replace its access lists."""
    fields = _group_fields(description, scheduler, agent_selection, types, pending_timeout,
                           active, sudo)
    fields |= idle_fields(max_lifetime, idle_timeout, utilization_window, grace_period,
                          utilization, combine, warn_before)
    for setting in clear or []:
        if setting not in IDLE_FIELDS:
            raise bad_option("--clear", f"'{setting}' is not one of {', '.join(IDLE_FIELDS)}")
        fields[setting] = None
    if project is not None:
        fields["projects"] = project
    if user is not None:
        fields["users"] = user
    if open_:
        fields.update(projects=[], users=[])
    with client() as berth:
        g = berth.update_resource_group(name, **fields)
    console.print(f"updated resource group {g['name']}")


@group_app.command("delete")
@handle_errors
def group_delete(name: str) -> None:
    """Delete a resource group without agents or live sessions (admins)."""
    with client() as berth:
        berth.delete_resource_group(name)
    console.print(f"deleted resource group {name}")


# ---- presets ---------------------------------------------------------------------------------
PRESET_COLUMNS = [("name", "name"), ("group", "resource_group"), ("slots", "slots"),
                  ("id", "id")]
GroupOf = Annotated[str | None, typer.Option("--group", help="A resource group (default: a "
                                             "global preset).")]


@preset_app.command("list")
@handle_errors
def preset_list(group: Annotated[str | None, typer.Option(
        "--group", help="Global presets and this group's.")] = None, json: Json = False) -> None:
    """Presets you may use."""
    with client() as berth:
        _table(berth.list_presets(group), PRESET_COLUMNS, json, "No presets.")


@preset_app.command("create")
@handle_errors
def preset_create(
    name: str,
    cpu: Annotated[float, typer.Option(help="CPU cores per kernel.")],
    mem: Annotated[str, typer.Option(help="Memory per kernel, e.g. 4g.")],
    shmem: Annotated[str | None, typer.Option(help="Shared memory, e.g. 1g.")] = None,
    slot: SlotOpt = None, group: GroupOf = None,
) -> None:
    """Create a preset (admins)."""
    with client() as berth:
        p = berth.create_preset(name, _slots(cpu, mem, shmem, slot), group)
    console.print(f"created preset {p['name']} ({p['id']})")


@preset_app.command("update")
@handle_errors
def preset_update(
    preset_id: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    cpu: Annotated[float | None, typer.Option()] = None,
    mem: Annotated[str | None, typer.Option()] = None,
    shmem: Annotated[str | None, typer.Option()] = None,
    slot: SlotOpt = None, group: GroupOf = None,
    global_: Annotated[bool, typer.Option("--global", help="Make it global.")] = False,
) -> None:
    """Change a preset (admins). Slots given replace all of its slots."""
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    slots = _slots(cpu, mem, shmem, slot)
    if slots:
        fields["slots"] = slots
    if group is not None:
        fields["resource_group"] = group
    if global_:
        fields["resource_group"] = None
    with client() as berth:
        p = berth.update_preset(preset_id, **fields)
    console.print(f"updated preset {p['name']}")


@preset_app.command("delete")
@handle_errors
def preset_delete(preset_id: str) -> None:
    """Delete a preset (admins)."""
    with client() as berth:
        berth.delete_preset(preset_id)
    console.print(f"deleted preset {preset_id}")


# ---- policies --------------------------------------------------------------------------------
POLICY_COLUMNS = [("name", "name"), ("total slots", "total_slots"),
                  ("concurrent", "max_concurrent_sessions"), ("pending", "max_pending_sessions"),
                  ("containers", "max_containers_per_session"),
                  ("lifetime (s)", "max_session_lifetime"), ("idle (s)", "idle_timeout"),
                  ("folders", "max_folders"), ("images", "max_customized_images"),
                  ("users", "users"), ("projects", "projects")]
LIMITS = ("max_concurrent_sessions", "max_pending_sessions", "max_containers_per_session",
          "max_folders", "max_customized_images", "total_slots", *IDLE_FIELDS)
Count = Annotated[int | None, typer.Option(min=0)]


def _policy_fields(description: str | None, cpu: float | None, mem: str | None,
                   slot: list[str] | None, concurrent: int | None, pending: int | None,
                   containers: int | None, folders: int | None, images: int | None
                   ) -> dict[str, Any]:
    fields: dict[str, Any] = {k: v for k, v in (
        ("description", description), ("max_concurrent_sessions", concurrent),
        ("max_pending_sessions", pending), ("max_containers_per_session", containers),
        ("max_folders", folders), ("max_customized_images", images)) if v is not None}
    totals = _slots(cpu, mem, None, slot)
    if totals:
        fields["total_slots"] = totals
    return fields


@policy_app.command("list")
@handle_errors
def policy_list(json: Json = False) -> None:
    """Resource policies (admins)."""
    with client() as berth:
        _table(berth.list_policies(), POLICY_COLUMNS, json, "No resource policies.")


@policy_app.command("create")
@handle_errors
def policy_create(
    name: str, description: Description = None,
    cpu: Annotated[float | None, typer.Option(help="Cores all running sessions may hold.")
                   ] = None,
    mem: Annotated[str | None, typer.Option(help="Memory all running sessions may hold, "
                                            "e.g. 64g.")] = None,
    slot: SlotOpt = None,
    max_concurrent: Annotated[int | None, typer.Option(
        "--max-concurrent", min=0, help="Sessions running at once (more wait).")] = None,
    max_pending: Annotated[int | None, typer.Option(
        "--max-pending", min=0, help="Sessions waiting at once (more are refused).")] = None,
    max_containers: Annotated[int | None, typer.Option(
        "--max-containers", min=1, help="Largest cluster size.")] = None,
    max_lifetime: Annotated[str | None, typer.Option(
        "--max-lifetime", help="Longest session, e.g. 8h (also the idle check's).")] = None,
    idle_timeout: IdleTimeout = None,
    max_folders: Annotated[int | None, typer.Option("--max-folders", min=0)] = None,
    max_images: Annotated[int | None, typer.Option("--max-images", min=0,
                                                   help="Customized images.")] = None,
    utilization_window: UtilizationWindow = None, grace_period: GracePeriod = None,
    utilization: Utilization = None, combine: Combine = None, warn_before: WarnBefore = None,
) -> None:
    """Create a resource policy (admins); a limit left out is unlimited. Give it to users
    with 'berth admin user set-policy' and to projects with 'berth admin project update
    --policy'."""
    fields = _policy_fields(description, cpu, mem, slot, max_concurrent, max_pending,
                            max_containers, max_folders, max_images)
    fields |= idle_fields(max_lifetime, idle_timeout, utilization_window, grace_period,
                          utilization, combine, warn_before)
    with client() as berth:
        p = berth.create_policy(name, **fields)
    console.print(f"created resource policy {p['name']}")


@policy_app.command("update")
@handle_errors
def policy_update(
    name: str, description: Description = None,
    cpu: Annotated[float | None, typer.Option(help="Total cores.")] = None,
    mem: Annotated[str | None, typer.Option(help="Total memory.")] = None,
    slot: SlotOpt = None,
    max_concurrent: Annotated[int | None, typer.Option("--max-concurrent", min=0)] = None,
    max_pending: Annotated[int | None, typer.Option("--max-pending", min=0)] = None,
    max_containers: Annotated[int | None, typer.Option("--max-containers", min=1)] = None,
    max_lifetime: MaxLifetime = None, idle_timeout: IdleTimeout = None,
    max_folders: Annotated[int | None, typer.Option("--max-folders", min=0)] = None,
    max_images: Annotated[int | None, typer.Option("--max-images", min=0)] = None,
    utilization_window: UtilizationWindow = None, grace_period: GracePeriod = None,
    utilization: Utilization = None, combine: Combine = None, warn_before: WarnBefore = None,
    clear: Annotated[list[str] | None, typer.Option(
        "--clear", help=f"Remove a limit: one of {', '.join(LIMITS)}; repeat.")] = None,
) -> None:
    """Change a resource policy (admins). --cpu/--mem/--slot replace its total slots."""
    fields = _policy_fields(description, cpu, mem, slot, max_concurrent, max_pending,
                            max_containers, max_folders, max_images)
    fields |= idle_fields(max_lifetime, idle_timeout, utilization_window, grace_period,
                          utilization, combine, warn_before)
    for limit in clear or []:
        if limit not in LIMITS:
            raise bad_option("--clear", f"'{limit}' is not one of {', '.join(LIMITS)}")
        fields[limit] = None
    with client() as berth:
        p = berth.update_policy(name, **fields)
    console.print(f"updated resource policy {p['name']}")


@policy_app.command("delete")
@handle_errors
def policy_delete(name: str) -> None:
    """Delete a resource policy no user or project has (admins)."""
    with client() as berth:
        berth.delete_policy(name)
    console.print(f"deleted resource policy {name}")


# ---- agents and users ------------------------------------------------------------------------
@agent_app.command("list")
@handle_errors
def agent_list(json: Json = False) -> None:
    """Agents with their group, status, whether they take new sessions, and what is free."""
    with client() as berth:
        _table(berth.agents(), [("id", "id"), ("group", "resource_group"),
                                ("status", "status"), ("schedulable", "schedulable"),
                                ("free", "free"), ("capacity", "capacity"),
                                ("last heartbeat", "last_heartbeat")], json, "No agents.")


@agent_app.command("update")
@handle_errors
def agent_update(
    agent_id: str,
    schedulable: Annotated[bool | None, typer.Option(
        "--schedulable/--unschedulable", help="Take new sessions or not (running ones stay)."
    )] = None,
    group: Annotated[str | None, typer.Option("--group", help="Move it to this resource "
                                              "group.")] = None,
) -> None:
    """Change an agent (admins)."""
    with client() as berth:
        a = berth.update_agent(agent_id, schedulable, group)
    console.print(f"agent {a['id']}: group {a['resource_group']}, "
                  f"{'schedulable' if a['schedulable'] else 'not schedulable'}")


@user_app.command("set-policy")
@handle_errors
def user_set_policy(
    email: str,
    policy: Annotated[str, typer.Argument(help="A resource policy's name, or 'none'.")],
) -> None:
    """Give a user a resource policy, or none (admins)."""
    with client() as berth:
        user = berth.lookup_user(email)
        berth.update_user(user["id"], resource_policy=None if policy == "none" else policy)
    console.print(f"{user['email']}: resource policy {policy}")


@user_app.command("lookup")
@handle_errors
def user_lookup(email: str, json: Json = False) -> None:
    """A user with their projects and the resource groups they may use (admins)."""
    with client() as berth:
        user = berth.lookup_user(email)
    if json:
        print_json(user)
        return
    console.print(f"{user['email']} ({user['full_name'] or '-'}) id {user['id']}\n"
                  f"  policy: {_or_dash(user['resource_policy'])}\n"
                  f"  projects: {', '.join(p['name'] for p in user['projects']) or '-'}\n"
                  f"  resource groups: {', '.join(user['resource_groups']) or '-'}")


# ---- resources (users) -----------------------------------------------------------------------
