"""``--mount NAME[:PATH][:ro|rw]`` for ``berth session create`` and ``berth run``: the
parser (pure), the server's mount errors told as errors of that option, and the lines that
``berth session info`` shows."""

from __future__ import annotations

from typing import Any

import typer

from berth.cli.common import bad_option
from berth.client import ApiError

MODES = ("ro", "rw")
MOUNT_HELP = (
    "Mount a folder: NAME[:PATH][:ro|rw], e.g. data, data:/mnt/data, data:sub:ro, data::ro. "
    "PATH: where (default /home/work/NAME; relative is under /home/work); ro: read-only. "
    "Repeat for more folders.")


def parse_mount(value: str) -> dict[str, Any]:
    """One ``--mount`` value as the API's mount: ``{"folder", "path", "mode"}`` (path and mode
    None when not given). A last part that is exactly "ro" or "rw" is the mode, so ``data:ro``
    mounts read-only at the default path; a relative path named "ro" is ``data:ro:``.
    Raises BadParameter naming --mount for a value of any other shape (the server checks the
    folder, the path's rules and overlaps)."""
    parts = value.split(":")
    if len(parts) == 2 and parts[1] in MODES:
        parts = [parts[0], "", parts[1]]
    if len(parts) > 3:
        raise bad_option("--mount", f"'{value}' has too many ':'; the form is "
                         "NAME[:PATH][:ro|rw]")
    name, path, mode = (parts + ["", ""])[:3]
    if not name:
        raise bad_option("--mount", f"'{value}' names no folder; the form is NAME[:PATH][:ro|rw]")
    if mode and mode not in MODES:
        raise bad_option("--mount", f"'{value}': the mode is ro or rw, not '{mode}'")
    return {"folder": name, "path": path or None, "mode": mode or None}


def parse_mounts(values: list[str] | None) -> list[dict[str, Any]] | None:
    """Every ``--mount`` value, in order (None when there is none)."""
    return [parse_mount(v) for v in values] if values else None


def as_mount_error(e: ApiError, values: list[str] | None) -> typer.BadParameter | None:
    """A refusal of ``mounts[i]...`` told as an error of ``--mount`` and the value given;
    None when the refusal is about something else."""
    for field, msg in e.fields.items():
        head, _, rest = field.partition(".")
        index, _, what = rest.partition(".")
        if head == "mounts" and values and index.isdigit() and int(index) < len(values):
            return bad_option("--mount", f"'{values[int(index)]}': {what or 'mount'}: {msg}")
        if head == "mounts":
            return bad_option("--mount", msg)
    return None


def mount_lines(session: dict[str, Any]) -> list[str]:
    """``folder -> path (mode)`` for each of the session's mounts."""
    return [f"{m['folder']} -> {m['path']} ({m['mode']})" for m in session.get("mounts") or []]
