"""Live usage and idle checks in the CLI: the lines of ``berth session info`` and the table of
``berth session top``. Formatting is pure (dicts of the API in, text out); :func:`run_top`
is the only part that talks to the manager."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from berth.cli.common import console, duration
from berth.client import ApiError, Client

#: Rich styles of an idle check's urgency (PRODUCT.md §7: red under 1 h, orange under 4 h).
URGENCY_STYLE = {"red": "red", "orange": "dark_orange"}
LEVEL_STYLE = {"ok": "green", "near": "yellow", "below": "red"}


def amount(n: float | None, suffix: str = "") -> str:
    """Bytes in a short binary unit (``1.5 GiB``); ``-`` for unknown."""
    if n is None:
        return "-"
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= factor:
            return f"{n / factor:.1f} {unit}{suffix}"
    return f"{n:.0f} B{suffix}"


def rate(n: float | None) -> str:
    return amount(n, "/s")


def percent(n: float | None) -> str:
    return "-" if n is None else f"{n:.1f} %"


def memory(used: float | None, limit: float | None) -> str:
    """``120.0 MiB / 1.0 GiB``, or just the use when there is no limit."""
    if used is None:
        return "-"
    return f"{amount(used)} / {amount(limit)}" if limit else amount(used)


def accelerator(point: dict[str, Any]) -> str:
    """``40.0 %, 2.0 GiB / 4.0 GiB``; ``-`` for a kernel without accelerator figures."""
    util, used = point.get("accel_percent"), point.get("accel_mem_bytes")
    if util is None and used is None:
        return "-"
    parts = [percent(util)] if util is not None else []
    if used is not None:
        parts.append(memory(used, point.get("accel_mem_limit")))
    return ", ".join(parts)


def age(at: str | None, now: datetime | None = None) -> str:
    if not at:
        return "-"
    seconds = ((now or datetime.now(UTC)) - datetime.fromisoformat(at)).total_seconds()
    return f"{duration(int(seconds))} ago"


def usage_text(point: dict[str, Any], now: datetime | None = None) -> str:
    """One kernel's newest sample on one line."""
    parts = [f"CPU {percent(point.get('cpu_percent'))}",
             f"mem {memory(point.get('mem_bytes'), point.get('mem_limit'))}",
             f"net rx {rate(point.get('net_rx_rate'))} tx {rate(point.get('net_tx_rate'))}",
             f"disk r {rate(point.get('io_read_rate'))} w {rate(point.get('io_write_rate'))}"]
    if (accel := accelerator(point)) != "-":
        parts.append(f"accel {accel}")
    return " · ".join(parts) + f"  ({age(point.get('at'), now)})"


def usage_lines(usage: dict[str, Any], hostnames: dict[str, str] | None = None,
                now: datetime | None = None) -> list[tuple[str, str]]:
    """(label, text) per kernel of a SessionUsageOut; one ``usage`` line for a single
    kernel, ``usage main1`` ... for a cluster."""
    kernels = usage.get("kernels") or []
    out = []
    for k in kernels:
        label = "usage" if len(kernels) == 1 else (
            f"usage {(hostnames or {}).get(k['kernel_id'], k['kernel_id'][:8])}")
        latest = k.get("latest")
        out.append((label, escape(usage_text(latest, now)) if latest else
                    f"no sample yet (every {usage.get('interval', 5):g} s)"))
    return out


def idle_lines(idle: dict[str, Any]) -> list[str]:
    """The idle checks of a SessionDetailOut's ``idle``: one line per check with its remaining
    time coloured by urgency, then the utilization check's resources against their
    thresholds."""
    lines = []
    for check in idle.get("checks") or []:
        name = f"{check['check']:<17}"
        if not check.get("enabled"):
            reason = (check.get("detail") or {}).get("reason") or "off"
            lines.append(f"{name} [dim]off ({escape(str(reason))})[/dim]")
            continue
        style = URGENCY_STYLE.get(check.get("urgency") or "", "")
        text = escape(check.get("remaining_text") or "-")
        shown = f"[{style}]{text}[/{style}]" if style else text
        warn = " [yellow](warning)[/yellow]" if check.get("warn") else ""
        remaining = check.get("remaining")
        left = " left" if remaining is not None and remaining > 0 else ""
        limit = f" (of {duration(int(check['limit']))})" if check.get("limit") else ""
        lines.append(f"{name} {shown}{left}{limit}{warn}")
    if resources := idle.get("utilization"):
        combine = idle.get("combine") or "or"
        parts = []
        for r in resources:
            style = LEVEL_STYLE.get(r.get("level") or "", "dim")
            average = "no data" if r.get("average") is None else f"{r['average']:.1f} %"
            parts.append(f"[{style}]{r['resource']} {average}[/{style}] (threshold "
                         f"{r['threshold']:g} %, {r['coverage']})")
        lines.append(f"{'':<17} averages ({combine}): " + ", ".join(parts))
    return lines


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


#: The figures of the top table that only the usage route has (not the list's summary).
RATES = ("net_rx_rate", "net_tx_rate", "io_read_rate", "io_write_rate", "accel_mem_bytes",
         "accel_mem_limit")


def session_row(session: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    """A session's figures for the top table: its kernels' newest samples summed (accelerator
    utilization averaged); without them, the list's summary (no rates)."""
    latest = [k["latest"] for k in (usage or {}).get("kernels") or [] if k.get("latest")]
    row: dict[str, Any] = {"name": session["name"], "id": session["id"],
                           **dict.fromkeys(RATES)}
    if not latest:
        summary = session.get("usage") or {}
        return {**row, **{key: summary.get(key) for key in
                          ("cpu_percent", "mem_bytes", "mem_limit", "accel_percent")}}
    limits = [p.get("mem_limit") for p in latest]
    accel = [p["accel_percent"] for p in latest if p.get("accel_percent") is not None]
    return {
        **row,
        **{key: _sum(p.get(key) for p in latest) for key in
           ("cpu_percent", "mem_bytes", *RATES)},
        "mem_limit": None if any(v is None for v in limits) else sum(v or 0 for v in limits),
        "accel_percent": sum(accel) / len(accel) if accel else None,
    }


def top_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    width = max((len(r["name"]) for r in rows), default=4)
    table.add_column("name", no_wrap=True, min_width=width)
    for col in ("CPU", "memory", "net rx", "net tx", "disk r", "disk w", "accelerator"):
        table.add_column(col, justify="right" if col != "accelerator" else "left")
    for r in rows:
        table.add_row(escape(r["name"]), percent(r["cpu_percent"]),
                      memory(r["mem_bytes"], r["mem_limit"]), rate(r["net_rx_rate"]),
                      rate(r["net_tx_rate"]), rate(r["io_read_rate"]),
                      rate(r["io_write_rate"]), accelerator(r))
    return table


def gather(berth: Client, limit: int) -> tuple[list[dict[str, Any]], float]:
    """The top rows of your RUNNING sessions (busiest CPU first) and the agents' sampling
    interval. One request for the list and one per RUNNING session (at most ``limit``)."""
    page = berth.list_sessions(state="running", limit=limit)
    rows, interval = [], 5.0
    for s in page["items"]:
        if s["status"] != "RUNNING":
            continue
        try:
            usage = berth.session_usage(s["id"])
            interval = float(usage.get("interval") or interval)
        except ApiError as e:
            if e.status != 404:  # ended meanwhile: shown from the list's figures
                raise
            usage = None
        rows.append(session_row(s, usage))
    rows.sort(key=lambda r: -(r["cpu_percent"] or 0))
    return rows, interval


def run_top(once: bool, interval: float | None, limit: int) -> None:
    """Print the table once, or refresh it in place every ``interval`` seconds (default:
    the agents' sampling interval) until Ctrl-C."""
    with Client() as berth:
        rows, sampled = gather(berth, limit)

        def view(rows: list[dict[str, Any]]) -> Text | Table:
            if not rows:
                return Text("No RUNNING sessions. Start one with 'berth session create -i IMAGE'.")
            title = (f"{len(rows)} running session(s), every {interval or sampled:g} s"
                     f" - {datetime.now().strftime('%H:%M:%S')}")
            return top_table(rows, title)

        if once:
            console.print(view(rows))
            return
        try:
            with Live(view(rows), console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(max(1.0, interval or sampled))
                    rows, sampled = gather(berth, limit)
                    live.update(view(rows), refresh=True)
        except KeyboardInterrupt:
            pass
