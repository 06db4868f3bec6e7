"""Helpers shared by the CLI commands: the client, error output, time formatting."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import typer
from rich.console import Console

from berth.client import ApiError, Client

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def client() -> Client:
    return Client()


def handle_errors(fn: F) -> F:
    """Turn API and connection errors into a one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            if e.fields:
                for field, msg in e.fields.items():
                    err.print(f"[red]Error:[/red] {field}: {msg}")
            else:
                err.print(f"[red]Error ({e.status}):[/red] {e}")
            if e.status == 401:
                err.print("Log in with 'berth login' or set BERTH_API_KEY.")
            raise typer.Exit(1) from None
        except httpx.ConnectError as e:
            err.print(
                f"[red]Error:[/red] cannot reach the Berth manager ({e}). "
                "Is 'berth up' running? Set BERTH_ENDPOINT if it is elsewhere."
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def ago(iso: str | None) -> str:
    if not iso:
        return "-"
    then = datetime.fromisoformat(iso)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    return duration(seconds)


def elapsed(session: dict[str, Any]) -> str:
    start = session.get("started_at")
    if not start:
        return "-"
    end = session.get("terminated_at")
    stop = datetime.fromisoformat(end) if end else datetime.now(UTC)
    return duration(int((stop - datetime.fromisoformat(start)).total_seconds()))


def duration(seconds: int) -> str:
    seconds = max(0, seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def size(value: str | int) -> str:
    n = int(value)
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} B"


STATUS_STYLE = {
    "RUNNING": "green",
    "PENDING": "yellow",
    "TERMINATED": "dim",
    "CANCELLED": "dim",
    "ERROR": "red",
    "TERMINATING": "magenta",
}


def styled_status(status: str) -> str:
    style = STATUS_STYLE.get(status, "cyan")
    return f"[{style}]{status}[/{style}]"
