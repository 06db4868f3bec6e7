"""``berth resources ...``: what you may use (the resource check, your groups, projects and
presets). Shares the table helpers of :mod:`berth.cli.admin`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from berth.cli.admin import Json, _or_dash, _show_slots, group_list, preset_list, project_list
from berth.cli.common import client, console, handle_errors, print_json

resources_app = typer.Typer(
    help="What you may use: 'check' shows, for a resource group and a project, your limits, "
    "what your sessions hold, what remains, which presets could start now and the group's "
    "agents; 'groups', 'projects' and 'presets' list what you may choose.",
    no_args_is_help=True)


@resources_app.command("check")
@handle_errors
def resources_check(
    group: Annotated[str, typer.Option("--group", "-g", help="Resource group.")] = "default",
    project: Annotated[str | None, typer.Option(help="Project (default: yours).")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Admins: for this user.")
                     ] = None,
    json: Json = False,
) -> None:
    """What you may use in a resource group for a project: per scope (you, the project, the
    group) the limits, what running sessions hold and what remains (absent: unlimited), the
    presets and whether each could start now, and the group's agents with what is free."""
    with client() as berth:
        data = berth.check_resources(group, project, owner)
    if json:
        print_json(data)
        return
    _print_check(data)


def _print_check(data: dict[str, Any]) -> None:
    console.print(f"resource group [bold]{data['resource_group']}[/bold], project "
                  f"[bold]{data['project']}[/bold]")
    table = Table("scope", "policy", "limits", "used", "remaining", "running", "pending")
    for scope, s in data["scopes"].items():
        table.add_row(scope, _or_dash(s["name"]), _show_slots(s["limits"]) if s["limits"]
                      else "unlimited", _show_slots(s["used"]),
                      _show_slots(s["remaining"]) if s["remaining"] or scope == "group"
                      else "unlimited",
                      f"{s['concurrent_sessions']}/{_or_dash(s['max_concurrent_sessions'])}",
                      f"{s['pending_sessions']}/{_or_dash(s['max_pending_sessions'])}")
    console.print(table)
    console.print(f"most per container: {_show_slots(data['max_per_container'])}")
    if data["presets"]:
        presets = Table("preset", "slots", "can start now")
        for p in data["presets"]:
            presets.add_row(p["name"], _show_slots(p["slots"]),
                            "yes" if p["allocatable"] else "no")
        console.print(presets)
    agents = Table("agent", "free", "capacity")
    for a in data["agents"]:
        agents.add_row(a["id"], _show_slots(a["free"]), _show_slots(a["capacity"]))
    console.print(agents)


@resources_app.command("groups")
@handle_errors
def resources_groups(json: Json = False) -> None:
    """The resource groups you may launch into."""
    group_list(json)


@resources_app.command("projects")
@handle_errors
def resources_projects(json: Json = False) -> None:
    """Your projects (for 'berth session create --project')."""
    project_list(json)


@resources_app.command("presets")
@handle_errors
def resources_presets(group: Annotated[str | None, typer.Option("--group")] = None,
                      json: Json = False) -> None:
    """The presets you may use (global ones and those of --group)."""
    preset_list(group, json)
