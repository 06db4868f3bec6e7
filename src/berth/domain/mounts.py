"""Folder names and mount paths: the rules of PRODUCT.md §2 step 3 and §9, I/O-free.

A folder name is 1-64 characters of ``[A-Za-z0-9._-]``, not ``.`` or ``..``; names starting
with a dot are mounted into every session of their owner at ``/home/work/.NAME``.

A mount path ("alias") says where a folder appears in the container: empty → ``/home/work/NAME``;
relative → under ``/home/work/``; absolute as is. Characters ``[A-Za-z0-9_/.-]``; no ``.`` or
``..`` component; at most :data:`~berth.domain.limits.MOUNT_PATH_MAX` characters; not at or under
a system directory, not ``/``, ``/home`` or ``/home/work`` themselves; no two mounts of one
session overlapping (one at or under another).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from berth.domain import limits
from berth.domain.rules import RuleError

HOME = "/home/work"
FOLDER_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
MOUNT_PATH_RE = re.compile(r"^[A-Za-z0-9_/.-]+$")
#: A mount at or under one of these would hide or replace the system the session runs on.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
               "/root", "/run", "/sbin", "/sys", "/usr", "/var", "/opt/berth")
#: A mount exactly here would hide the home or everything.
RESERVED_PATHS = ("/", "/home", HOME)
MODES = ("rw", "ro")


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a folder, or None."""
    if not 1 <= len(name) <= limits.FOLDER_NAME_MAX:
        return f"must be 1 to {limits.FOLDER_NAME_MAX} characters"
    if not FOLDER_NAME_RE.match(name):
        return "may contain only letters A-Z a-z, digits, '.', '_' and '-'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    return None


def is_auto_mount(name: str) -> bool:
    """Folders whose name starts with a dot are mounted into every session of their owner."""
    return name.startswith(".")


def resolve_mount_path(path: str | None, folder_name: str) -> str:
    """The absolute container path of a mount; raises ValueError with the rule broken."""
    text = (path or "").strip()
    if not text:
        return f"{HOME}/{folder_name}"
    if len(text) > limits.MOUNT_PATH_MAX:
        raise ValueError(f"must be at most {limits.MOUNT_PATH_MAX} characters")
    if not MOUNT_PATH_RE.match(text):
        raise ValueError("may contain only letters, digits and '_', '/', '.', '-'")
    absolute = text if text.startswith("/") else f"{HOME}/{text}"
    parts = [p for p in absolute.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError("must not contain '.' or '..' as a path component")
    normal = "/" + "/".join(parts)
    if normal in RESERVED_PATHS:
        raise ValueError(f"cannot mount over {normal}")
    for system in SYSTEM_DIRS:
        if _at_or_under(normal, system):
            raise ValueError(f"cannot mount at or under the system directory {system}")
    return normal


def _at_or_under(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def overlaps(a: str, b: str) -> bool:
    """One of two absolute normal paths is at or under the other."""
    return _at_or_under(a, b) or _at_or_under(b, a)


@dataclass(frozen=True)
class MountWish:
    """One asked-for mount, the folder already looked up (the service does that)."""

    #: Its place in the request (errors name ``mounts[index]``).
    index: int
    folder_id: str
    folder_name: str
    path: str | None
    #: "rw", "ro", or None (the folder's default).
    mode: str | None
    #: The most the caller may have: "ro" when the folder or the caller's share is read-only.
    allowed: str


@dataclass(frozen=True)
class Mount:
    folder_id: str
    folder: str
    path: str
    mode: str

    def as_json(self) -> dict[str, str]:
        return {"folder_id": self.folder_id, "folder": self.folder, "path": self.path,
                "mode": self.mode}


def plan_mounts(wishes: Sequence[MountWish], auto: Sequence[tuple[str, str, str]]
                ) -> list[Mount] | list[RuleError]:
    """The mounts of a session: the asked ones (field ``mounts[i].…``) plus the owner's
    dot-folders ``auto`` as ``(folder_id, name, allowed mode)`` at ``/home/work/NAME`` unless
    asked for explicitly. Every broken rule, or the mounts."""
    errors: list[RuleError] = []
    mounts: list[Mount] = []
    if len(wishes) > limits.MOUNTS_MAX:
        return [RuleError("mounts", f"at most {limits.MOUNTS_MAX} folders can be mounted")]
    seen: dict[str, int] = {}
    for wish in wishes:
        field = f"mounts[{wish.index}]"
        if wish.folder_id in seen:
            errors.append(RuleError(f"{field}.folder",
                                    f"folder '{wish.folder_name}' is already mounted "
                                    f"(mounts[{seen[wish.folder_id]}])"))
            continue
        seen[wish.folder_id] = wish.index
        try:
            path = resolve_mount_path(wish.path, wish.folder_name)
        except ValueError as e:
            errors.append(RuleError(f"{field}.path", str(e)))
            continue
        if wish.mode is not None and wish.mode not in MODES:
            errors.append(RuleError(f"{field}.mode", "must be 'rw' or 'ro'"))
            continue
        mode = wish.mode or wish.allowed
        if mode == "rw" and wish.allowed == "ro":
            errors.append(RuleError(f"{field}.mode", f"folder '{wish.folder_name}' can only be "
                                    "mounted read-only (ro) by you"))
            continue
        clash = next((m for m in mounts if overlaps(m.path, path)), None)
        if clash is not None:
            errors.append(RuleError(f"{field}.path", f"{path} overlaps the mount of "
                                    f"'{clash.folder}' at {clash.path}"))
            continue
        mounts.append(Mount(wish.folder_id, wish.folder_name, path, mode))
    for folder_id, name, allowed in auto:
        path = f"{HOME}/{name}"
        if folder_id in seen or any(overlaps(m.path, path) for m in mounts):
            continue
        mounts.append(Mount(folder_id, name, path, allowed))
    return errors or mounts
