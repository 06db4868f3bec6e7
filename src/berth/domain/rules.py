"""Validation rules shared by the API, the CLI and the web UI (``webui/src/rules.ts``).

Each check raises :class:`RuleError` naming the field and the rule, so every interface can
show the same message at the same field; the ``*_errors`` functions return every problem
instead, for checks that report all errors at once (:mod:`berth.domain.launch`). The limits
come from :mod:`berth.domain.limits`. All functions are pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from berth.domain import limits
from berth.domain.limits import NAME_MAX as NAME_MAX
from berth.domain.limits import NAME_MIN as NAME_MIN
from berth.domain.limits import PORT_MAX as PORT_MAX
from berth.domain.limits import PORT_MIN as PORT_MIN
from berth.domain.limits import THREADS_MAX as THREADS_MAX
from berth.domain.limits import THREADS_MIN as THREADS_MIN

NAME_RE = re.compile(r"^\w[\w.-]*\w$", re.ASCII)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
MAX_PREOPEN_PORTS = limits.PREOPEN_PORTS_MAX
#: Ports Berth itself uses inside kernels; users cannot preopen them.
RESERVED_PORTS = frozenset({2200, 7681, 8888, 6006})
@dataclass
class RuleError(ValueError):
    """A value broke a rule. ``field`` is the dotted field path as the API names it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RuleErrors(ValueError):
    """Several values broke rules: every one of them, at most one per field (the API answers
    them together in one 422)."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(map(str, self.errors)))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def format_bytes_limit(size: int) -> str:
    """``32768`` -> ``'32 KiB'``: limits as the docs write them."""
    for unit, factor in (("TiB", limits.TiB), ("GiB", limits.GiB), ("MiB", limits.MiB),
                         ("KiB", limits.KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


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


def _variable_problem(key: str, value: str) -> str | None:
    if len(key) > limits.ENV_NAME_MAX:
        return f"variable name must be at most {limits.ENV_NAME_MAX} characters long"
    if not ENV_NAME_RE.fullmatch(key):
        return (
            "variable name must start with a letter or '_' and contain only letters, "
            "digits and '_'"
        )
    if value == "":
        return "a value is required"
    if utf8_len(value) > limits.ENV_VALUE_MAX:
        return f"value must be at most {format_bytes_limit(limits.ENV_VALUE_MAX)} (UTF-8)"
    return None


def environ_errors(environ: Mapping[str, str], field: str = "environ") -> list[RuleError]:
    """Every problem of an environment: one per bad variable (field ``environ.NAME``), then
    the count and the total size (field ``environ``). At most 20 variables are reported."""
    errors = [
        RuleError(f"{field}.{key}", problem)
        for key, value in environ.items()
        if (problem := _variable_problem(key, value))
    ][:20]
    if len(environ) > limits.ENV_COUNT_MAX:
        errors.append(RuleError(field, f"at most {limits.ENV_COUNT_MAX} variables are allowed"))
    total = sum(utf8_len(k) + utf8_len(v) + 2 for k, v in environ.items())
    if total > limits.ENV_TOTAL_MAX:
        errors.append(RuleError(
            field, f"the variables must total at most {format_bytes_limit(limits.ENV_TOTAL_MAX)}"
            f" (NAME=VALUE, UTF-8); these are {total} bytes"))
    return errors


def check_environ(environ: dict[str, str], field: str = "environ") -> dict[str, str]:
    """Validate environment variable names, values, their count and total size (a dict
    cannot hold duplicates); raises the first problem."""
    if errors := environ_errors(environ, field):
        raise errors[0]
    return environ


def check_environ_pairs(pairs: list[tuple[str, str]], field: str = "environ") -> dict[str, str]:
    """Validate NAME=VALUE pairs as a user typed them; duplicates are an error."""
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise RuleError(f"{field}.{key}", "variable names must not repeat")
        seen[key] = value
    return check_environ(seen, field)


def _number(text: str) -> Decimal:
    """A decimal the patterns above matched (digits only: no exponent, so never huge in
    digits-per-character terms, and exact where a float would overflow or round)."""
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the patterns admit only digits and a dot
        return Decimal(0)


def parse_duration(
    text: str, field: str = "timeout", maximum: timedelta = limits.TIMEOUT_MAX
) -> timedelta:
    """Parse ``<number><unit>`` with unit s/m/h/d/w, e.g. ``90s`` or ``1.5h``; at most
    ``maximum`` (one year by default: it must fit a 32-bit column as seconds)."""
    match = DURATION_RE.fullmatch(text)
    if not match:
        raise RuleError(field, "must be a number followed by a unit s, m, h, d or w (e.g. 30m)")
    seconds = _number(match.group(1)) * DURATION_UNITS[match.group(2)]
    if seconds > Decimal(maximum.total_seconds()):
        shown = f"{maximum.days}d" if not maximum.seconds else f"{int(maximum.total_seconds())}s"
        raise RuleError(field, f"must be at most {shown}")
    duration = timedelta(seconds=float(seconds))
    if duration <= timedelta(0):  # compared after conversion: 1e-7 s rounds to zero
        raise RuleError(field, "must be greater than zero")
    return duration


def parse_size(text: str | int, field: str = "mem", maximum: int = limits.MEM_MAX) -> int:
    """Parse a byte size: an integer, or a number with k/m/g/t (binary units), e.g. ``512m``;
    fractions of a byte are dropped. At most ``maximum`` bytes."""
    if isinstance(text, int):
        size = text
    else:
        match = SIZE_RE.match(text)
        if not match:
            raise RuleError(field, "must be a size such as 512m, 2g or a number of bytes")
        unit = (match.group(2) or "").lower()[:1]
        exact = _number(match.group(1)) * SIZE_UNITS[unit]
        if exact > maximum:  # checked on the decimal: int() of a 10^40 float is not wanted
            raise RuleError(field, f"must be at most {format_size(maximum)}")
        size = int(exact)
    if size <= 0:
        raise RuleError(field, "must be greater than zero")
    if size > maximum:
        raise RuleError(field, f"must be at most {format_size(maximum)}")
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


def cpu_problem(cpu: float | Decimal) -> str | None:
    """Why ``cpu`` cores cannot be requested, or None."""
    if isinstance(cpu, float) and not math.isfinite(cpu):
        return "must be a finite number"
    if cpu <= 0:
        return "must be greater than zero"
    if cpu > limits.CPU_MAX:
        return f"must be at most {limits.CPU_MAX} cores"
    if Decimal(str(cpu)) % limits.CPU_STEP != 0:
        return "must be a multiple of 0.01 cores"
    return None


def resource_errors(cpu: float | Decimal, mem: int, shmem: int) -> list[RuleError]:
    """Every rule broken by one kernel's resource values (at most one per field)."""
    errors = []
    if problem := cpu_problem(cpu):
        errors.append(RuleError("resources.cpu", problem))
    if mem < limits.MEM_MIN:
        errors.append(RuleError("resources.mem", "must be at least 64m"))
    elif mem > limits.MEM_MAX:
        errors.append(RuleError("resources.mem", f"must be at most {format_size(limits.MEM_MAX)}"))
    if shmem <= 0:
        errors.append(RuleError("resources.shmem", "must be greater than zero"))
    elif shmem > mem:
        errors.append(RuleError("resources.shmem", "must not be larger than memory"))
    return errors


def check_resources(cpu: float, mem: int, shmem: int) -> None:
    """Rules between resource values of one kernel; raises the first broken one."""
    if errors := resource_errors(cpu, mem, shmem):
        raise errors[0]


def slot_name_errors(names: Iterable[str], known: Iterable[str]) -> list[RuleError]:
    """A request's resource slot names that no slot has: each refused by name (at most 10)."""
    allowed = list(known)
    unknown = [n for n in names if n not in allowed][:10]
    return [
        RuleError(f"resources.{name}",
                  f"unknown resource slot; known slots: {', '.join(allowed)}")
        for name in unknown
    ]


def check_threads(value: int, field: str) -> int:
    if not THREADS_MIN <= value <= THREADS_MAX:
        raise RuleError(field, f"must be between {THREADS_MIN} and {THREADS_MAX}")
    return value


def startup_command_problem(command: str) -> str | None:
    """Why a batch startup command cannot run, or None (emptiness is the caller's rule)."""
    if utf8_len(command) > limits.STARTUP_COMMAND_MAX:
        return f"must be at most {format_bytes_limit(limits.STARTUP_COMMAND_MAX)} (UTF-8)"
    return None


def starts_at_problem(value: datetime, now: datetime) -> str | None:
    """Why a batch start time is refused, or None: it needs a timezone and must lie between
    a day before ``now`` and a year after it. Comparisons of aware datetimes never overflow,
    so even year 1 or 9999 in any zone gets a message, not an error."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "must include a timezone, e.g. 2030-01-01T09:00:00+00:00"
    if value < now - limits.STARTS_AT_PAST_MAX:
        return "must not be more than 1 day in the past"
    if value > now + limits.STARTS_AT_FUTURE_MAX:
        return "must not be more than 365 days in the future"
    return None
