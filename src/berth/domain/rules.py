"""Validation rules shared by the API, the CLI and (later) the web UI.

Each check raises :class:`RuleError` naming the field and the rule, so every interface can
show the same message at the same field. All functions are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

NAME_RE = re.compile(r"^\w[\w.-]*\w$", re.ASCII)
NAME_MIN, NAME_MAX = 4, 64
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
PORT_MIN, PORT_MAX, MAX_PREOPEN_PORTS = 1024, 65535, 10
#: Ports Berth itself uses inside kernels; users cannot preopen them.
RESERVED_PORTS = frozenset({2200, 7681, 8888, 6006})
THREADS_MIN, THREADS_MAX = 1, 1000


@dataclass
class RuleError(ValueError):
    """A value broke a rule. ``field`` is the dotted field path as the API names it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def check_session_name(name: str, field: str = "name") -> str:
    """Return the name if it follows the session-name rules, else raise RuleError."""
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise RuleError(field, f"must be {NAME_MIN} to {NAME_MAX} characters long")
    if any(c.isspace() for c in name):
        raise RuleError(field, "must not contain spaces")
    if not NAME_RE.fullmatch(name):
        raise RuleError(
            field,
            "may use only ASCII letters, digits, '_', '-' and '.', and must start and end "
            "with a letter, digit or '_'",
        )
    return name


def check_environ(environ: dict[str, str], field: str = "environ") -> dict[str, str]:
    """Validate environment variable names and values (a dict cannot hold duplicates)."""
    for key, value in environ.items():
        if not ENV_NAME_RE.fullmatch(key):
            raise RuleError(
                f"{field}.{key}",
                "variable name must start with a letter or '_' and contain only letters, "
                "digits and '_'",
            )
        if value == "":
            raise RuleError(f"{field}.{key}", "a value is required")
    return environ


def check_environ_pairs(pairs: list[tuple[str, str]], field: str = "environ") -> dict[str, str]:
    """Validate NAME=VALUE pairs as a user typed them; duplicates are an error."""
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise RuleError(f"{field}.{key}", "variable names must not repeat")
        seen[key] = value
    return check_environ(seen, field)


def parse_duration(text: str, field: str = "timeout") -> timedelta:
    """Parse ``<number><unit>`` with unit s/m/h/d/w, e.g. ``90s`` or ``1.5h``."""
    match = DURATION_RE.fullmatch(text)
    if not match:
        raise RuleError(field, "must be a number followed by a unit s, m, h, d or w (e.g. 30m)")
    try:
        duration = timedelta(seconds=float(match.group(1)) * DURATION_UNITS[match.group(2)])
    except OverflowError:
        raise RuleError(field, "is too long") from None
    if duration <= timedelta(0):  # compared after conversion: 1e-7 s rounds to zero
        raise RuleError(field, "must be greater than zero")
    return duration


def parse_size(text: str | int, field: str = "mem") -> int:
    """Parse a byte size: an integer, or a number with k/m/g/t (binary units), e.g. ``512m``."""
    if isinstance(text, int):
        size = text
    else:
        match = SIZE_RE.match(text)
        if not match:
            raise RuleError(field, "must be a size such as 512m, 2g or a number of bytes")
        unit = (match.group(2) or "").lower()[:1]
        size = int(float(match.group(1)) * SIZE_UNITS[unit])
    if size <= 0:
        raise RuleError(field, "must be greater than zero")
    return size


def format_size(size: int) -> str:
    """Render bytes the short way users type them (``1g``, ``512m``, ``1536m``)."""
    for unit in ("t", "g", "m", "k"):
        if size >= SIZE_UNITS[unit] and size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit}"
    return str(size)


def parse_ports(text: str, field: str = "preopen_ports") -> list[int]:
    """Parse preopen ports: numbers or ``a:b`` ranges separated by commas or spaces."""
    ports: list[int] = []
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        if ":" in token:
            lo_s, _, hi_s = token.partition(":")
            if not (lo_s.isdigit() and hi_s.isdigit()) or int(lo_s) > int(hi_s):
                raise RuleError(field, f"'{token}' is not a range a:b with a <= b")
            lo, hi = int(lo_s), int(hi_s)
            if not (lo >= PORT_MIN and hi <= PORT_MAX):  # checked before expanding the range
                raise RuleError(field, f"range {token} is outside {PORT_MIN}-{PORT_MAX}")
            if hi - lo + 1 + len(ports) > MAX_PREOPEN_PORTS:
                raise RuleError(field, f"at most {MAX_PREOPEN_PORTS} ports may be opened")
            ports.extend(range(lo, hi + 1))
        elif token.isdigit():
            ports.append(int(token))
        else:
            raise RuleError(field, f"'{token}' is not a port number")
    return check_ports(ports, field)


def check_ports(
    ports: list[int], field: str = "preopen_ports", app_ports: frozenset[int] = frozenset()
) -> list[int]:
    """Apply the preopen-port rules to an already parsed list."""
    if len(ports) > MAX_PREOPEN_PORTS:
        raise RuleError(field, f"at most {MAX_PREOPEN_PORTS} ports may be opened")
    seen: set[int] = set()
    for port in ports:
        if not PORT_MIN <= port <= PORT_MAX:
            raise RuleError(field, f"port {port} is outside {PORT_MIN}-{PORT_MAX}")
        if port in seen:
            raise RuleError(field, f"port {port} is given twice")
        if port in RESERVED_PORTS or port in app_ports:
            raise RuleError(field, f"port {port} is reserved for an app of the environment")
        seen.add(port)
    return ports


def check_resources(cpu: float, mem: int, shmem: int) -> None:
    """Rules between resource values of one kernel."""
    if cpu <= 0:
        raise RuleError("resources.cpu", "must be greater than zero")
    if Decimal(str(cpu)) % Decimal("0.01") != 0:
        raise RuleError("resources.cpu", "must be a multiple of 0.01 cores")
    if mem < 64 * 2**20:
        raise RuleError("resources.mem", "must be at least 64m")
    if shmem <= 0:
        raise RuleError("resources.shmem", "must be greater than zero")
    if shmem > mem:
        raise RuleError("resources.shmem", "must not be larger than memory")


def check_threads(value: int, field: str) -> int:
    if not THREADS_MIN <= value <= THREADS_MAX:
        raise RuleError(field, f"must be between {THREADS_MIN} and {THREADS_MAX}")
    return value
