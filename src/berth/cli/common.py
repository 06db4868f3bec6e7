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
from rich.markup import escape

from berth.client import ApiError, Client
from berth.domain.rules import RuleError

console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays on one line
F = TypeVar("F", bound=Callable[..., Any])


def client() -> Client:
    return Client()


def bad_option(option: str, message: str) -> typer.BadParameter:
    """A bad value the user gave ``option``: :func:`handle_errors` prints it on one line."""
    return typer.BadParameter(message, param_hint=option)


def one_line(text: str) -> str:
    """Server messages and user values may hold newlines; an error stays one line."""
    return " ".join(str(text).split())


def handle_errors(fn: F) -> F:
    """Turn bad option values (exit code 2), API and connection errors (exit code 1) into a
    one-line message each, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.BadParameter as e:
            err.print(f"[red]Error:[/red] {escape(one_line(e.format_message()))}",
                      highlight=False)
            raise typer.Exit(2) from None
        except RuleError as e:  # a rule checked before sending (field named as the API does)
            err.print(f"[red]Error:[/red] {escape(one_line(str(e)))}", highlight=False)
            raise typer.Exit(2) from None
        except ApiError as e:
            if e.fields:
                for field, msg in e.fields.items():
                    err.print(f"[red]Error:[/red] {escape(one_line(f'{field}: {msg}'))}",
                              highlight=False)
            else:
                err.print(f"[red]Error ({e.status}):[/red] {escape(one_line(str(e)))}",
                          highlight=False)
            if e.status == 401:
                err.print("Log in with 'berth login' or set BERTH_API_KEY.")
            raise typer.Exit(1) from None
        except httpx.ConnectError as e:
            err.print(
                f"[red]Error:[/red] cannot reach the Berth manager ({e}). "
                "Is 'berth up' running? Set BERTH_ENDPOINT if it is elsewhere."
            )
            raise typer.Exit(1) from None
        except httpx.HTTPError as e:
            err.print("[red]Error:[/red] talking to the Berth manager failed: "
                      f"{escape(one_line(str(e)))}")
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
