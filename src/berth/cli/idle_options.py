"""The idle-check options of ``berth admin group`` and ``berth admin policy`` (create and
update): durations such as ``30m`` (``0``: off), ``--utilization cpu=5,mem=10`` (percent;
``off``: no utilization check), ``--combine and|or``. The server checks the ranges and names
the field in its error (docs/idle-checks.md)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from berth.cli.common import bad_option
from berth.domain import rules
from berth.domain.rules import RuleError

#: API fields, also the names ``--clear`` takes.
IDLE_FIELDS = ("max_session_lifetime", "idle_timeout", "utilization_window", "grace_period",
               "utilization_thresholds", "utilization_combine", "warn_before")
RESOURCES = ("cpu", "mem", "accel", "accel_mem")

MaxLifetime = Annotated[str | None, typer.Option(
    "--max-lifetime", help="Reclaim sessions this long after their start, e.g. 8h; 0: off.")]
IdleTimeout = Annotated[str | None, typer.Option(
    "--idle-timeout", help="Reclaim sessions without user traffic this long, e.g. 1h "
    "(batch sessions exempt); also the utilization window unless set; 0: off.")]
UtilizationWindow = Annotated[str | None, typer.Option(
    "--utilization-window", help="The span of the utilization average, e.g. 30m.")]
GracePeriod = Annotated[str | None, typer.Option(
    "--grace-period", help="No utilization verdict this long after the start, e.g. 10m.")]
Utilization = Annotated[str | None, typer.Option(
    "--utilization", help="Thresholds in percent, e.g. cpu=5,mem=10 (cpu, mem, accel, "
    "accel_mem); 'off': no utilization check.")]
Combine = Annotated[str | None, typer.Option(
    "--combine", help="and: reclaim when every resource is below its threshold; or: some.")]
WarnBefore = Annotated[str | None, typer.Option(
    "--warn-before", help="Warn users this long before a check reclaims, e.g. 10m; 0: no "
    "warning.")]


def idle_seconds(text: str | None, option: str) -> int | None:
    """``90m``, ``2h``, ``0`` as whole seconds; None: not given."""
    if text is None:
        return None
    if text.strip() == "0":
        return 0
    try:
        return math.ceil(rules.parse_duration(text.strip(), option).total_seconds())
    except RuleError as e:
        raise bad_option(option, e.message) from None


def parse_thresholds(text: str | None) -> dict[str, float] | None:
    """``cpu=5,mem=10`` -> {"cpu": 5.0, "mem": 10.0}; ``off`` -> {}; None: not given."""
    if text is None:
        return None
    if text.strip().lower() in ("off", "none", ""):
        return {}
    found: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in RESOURCES:
            raise bad_option("--utilization", f"'{item.strip()}' is not RESOURCE=PERCENT with "
                             f"RESOURCE one of {', '.join(RESOURCES)}")
        try:
            found[name] = float(value)
        except ValueError:
            raise bad_option("--utilization", f"'{value}' is not a number") from None
        if not math.isfinite(found[name]):
            raise bad_option("--utilization", "must be a finite number")
    return found


def idle_fields(lifetime: str | None, idle: str | None, window: str | None,
                grace: str | None, utilization: str | None, combine: str | None,
                warn: str | None) -> dict[str, Any]:
    """The API fields of the options given."""
    values = {
        "max_session_lifetime": idle_seconds(lifetime, "--max-lifetime"),
        "idle_timeout": idle_seconds(idle, "--idle-timeout"),
        "utilization_window": idle_seconds(window, "--utilization-window"),
        "grace_period": idle_seconds(grace, "--grace-period"),
        "utilization_thresholds": parse_thresholds(utilization),
        "utilization_combine": combine.strip().lower() if combine is not None else None,
        "warn_before": idle_seconds(warn, "--warn-before"),
    }
    return {k: v for k, v in values.items() if v is not None}
