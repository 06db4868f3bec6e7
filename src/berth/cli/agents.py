"""``berth agents``: the agents you may launch on, with what is free on each (to pick one
with ``berth session create --agent ID``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Table

from berth.cli.common import client, console, handle_errors, print_json, size


def _cores(value: Any) -> str:
    try:
        return f"{Decimal(str(value)).normalize():f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _pair(free: dict[str, Any], capacity: dict[str, Any], key: str) -> str:
    """``free / capacity`` of one slot (memory in binary units)."""
    if key not in capacity:
        return "-"
    show = size if key == "mem" else _cores
    return f"{show(free.get(key, 0))} / {show(capacity[key])}"


def devices(info: dict[str, Any]) -> str:
    """``mock-gpu (MOCK): 0 A100 16.0 GiB 35%, 1 ...`` per plugin with devices; '-' for none."""
    lines = []
    for plugin in info.get("accelerators") or []:
        found = plugin.get("devices") or []
        if not found:
            continue
        name = plugin.get("name", "?") + (" (MOCK)" if plugin.get("mock") else "")
        shown = []
        for d in found:
            util = d.get("utilization")
            shown.append(" ".join(x for x in (
                str(d.get("id")), d.get("model") or "", size(d.get("memory", 0)),
                f"{util:.0f}%" if isinstance(util, int | float) else "") if x))
        lines.append(f"{name}: " + ", ".join(shown))
    return "\n".join(lines) or "-"


@handle_errors
def list_agents(
    resource_group: Annotated[str | None, typer.Option(
        "--resource-group", "-g", help="Only the agents of this group.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List agents with their free resources (free / capacity), port range and CPU set."""
    with client() as berth:
        agents = berth.agents()
    if resource_group is not None:
        agents = [a for a in agents if a.get("resource_group") == resource_group]
    if json:
        print_json(agents)
        return
    table = Table("ID", "Status", "Group", "CPU free", "Memory free", "Accelerators", "Ports",
                  "CPU set", "Last heartbeat")
    for a in agents:
        info = a.get("info") or {}
        status = a["status"] if a.get("schedulable", True) else f"{a['status']} (not schedulable)"
        table.add_row(
            a["id"], status, a.get("resource_group", ""),
            _pair(a.get("free") or {}, a.get("capacity") or {}, "cpu"),
            _pair(a.get("free") or {}, a.get("capacity") or {}, "mem"),
            devices(info),
            info.get("port_range") or "any", info.get("cpuset") or "all",
            str(a.get("last_heartbeat", ""))[:19],
        )
    console.print(table)
