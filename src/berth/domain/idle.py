"""Idle checks: how long each check leaves a session, and whether one reclaims it now.
Pure, no I/O.

Three checks (PRODUCT.md §7), each optional:

- **session lifetime**: reclaim ``max_lifetime`` seconds after the session started;
- **network timeout**: reclaim ``network_timeout`` seconds after the last traffic between the
  user and the session (the start counts as traffic); batch sessions are exempt;
- **utilization**: after ``grace_period`` seconds from the start, reclaim when the mean use of
  the requested resources over the last ``window`` seconds is below their thresholds.

The idle loop loads a session's stored facts (:class:`SessionFacts`: start, last traffic,
usage samples), calls :func:`evaluate` with the resolved :class:`IdlePolicy` and the time, and
applies the :class:`IdleReport`: a warning for each check whose ``warn`` is set, a reclaim
with ``verdict.status_info`` / ``verdict.data``. Everything is computed from the facts and
``now`` alone, so a restarted manager continues every countdown where it was, and equal input
gives equal output.

Utilization data
    A resource's figures form a step function: a sample's value stands from its time until
    that resource's next figure, but for at most ``GAP_FACTOR × sample_interval`` seconds and
    never past ``now``. What no figure covers is *no data*, never zero: a gap longer than
    that, a ``None`` or absent value, negative or non-finite figures. The *average* over the
    window is time-weighted over the covered part of it, so irregular sampling weighs each
    figure by how long it stood.

    A resource's window is *full* when figures cover all of the last ``window`` seconds; only
    full windows decide. Resources not requested, without a threshold, or with no figure in
    the window are ignored. ``"or"``: reclaim when some full resource is below its threshold.
    ``"and"``: reclaim when some full resource is below and every other resource with data in
    the window is full and below too (a partly covered one holds the verdict back).

Remaining time
    For the lifetime and network checks it is the time to their deadline. For utilization it
    is a lower bound: the earliest time, not before the grace period ends, at which the check
    could reclaim if every requested resource read 0 from now on (or, for ``"and"``, stopped
    reporting where that is sooner). So it counts down while the session stays idle and stays
    up while it is used; at 0 without a verdict the check is "checking" (the average sits
    exactly on a threshold). As time passes and samples stamped after the earlier ``now``
    arrive, no deadline moves earlier and no check reclaims before a deadline it showed.
    (A sample stamped in the past that arrives late can change the past, and so a deadline.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from berth.domain.status import SessionType

Combine = Literal["and", "or"]
#: How a resource's average stands against its threshold, the tooltip's colour: "ok",
#: "near" (yellow: less than ``NEAR_MARGIN`` above it), "below" (red).
Level = Literal["ok", "near", "below"]
#: How much of the last window a resource's figures cover.
Coverage = Literal["none", "partial", "full"]
#: Where the utilization check is: in its grace period, past it but without a full window
#: (no verdict yet), or measuring.
Phase = Literal["grace", "filling", "measuring"]
Urgency = Literal["red", "orange"]
ReclaimReason = Literal["idle-session-lifetime", "idle-timeout", "idle-utilization"]

#: A figure stands for at most this many sampling intervals; beyond that is no data.
GAP_FACTOR = 3.0
#: The agents' sampling interval unless the facts say otherwise (seconds).
DEFAULT_SAMPLE_INTERVAL = 5.0
#: "near": the average is at or above its threshold but less than 20 % above it.
NEAR_MARGIN = 0.2
#: Remaining time below these many seconds is shown red, then orange.
RED_BELOW = 3600.0
ORANGE_BELOW = 4 * 3600.0
REACHED_TEXT = "time reached, checking…"
NOT_APPLICABLE_TEXT = "-"


class IdleCheck(StrEnum):
    SESSION_LIFETIME = "session-lifetime"
    NETWORK_TIMEOUT = "network-timeout"
    UTILIZATION = "utilization"


#: The checks in the order they are reported; when several reclaim at once, the first one
#: names the verdict (a hard limit before inactivity, inactivity before low use).
CHECK_ORDER: tuple[IdleCheck, ...] = tuple(IdleCheck)
#: The session's ``status_info`` when a check reclaims it.
STATUS_INFO: Mapping[IdleCheck, ReclaimReason] = {
    IdleCheck.SESSION_LIFETIME: "idle-session-lifetime",
    IdleCheck.NETWORK_TIMEOUT: "idle-timeout",
    IdleCheck.UTILIZATION: "idle-utilization",
}


# ---- configuration ---------------------------------------------------------------------------
def _check_seconds(name: str, value: int | None, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of seconds, at least {minimum}")


def _check_thresholds(thresholds: Mapping[str, float]) -> None:
    for resource, threshold in thresholds.items():
        if not resource:
            raise ValueError("a threshold needs a resource name")
        # 0 could never be undercut: such a resource would only ever hold verdicts back.
        if isinstance(threshold, bool) or not math.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"the threshold of {resource} must be a percentage above 0")


def _check_combine(combine: str | None) -> None:
    if combine is not None and combine not in ("and", "or"):
        raise ValueError("combine must be 'and' or 'or'")


@dataclass(frozen=True)
class UtilizationRule:
    """The utilization check. Raises ValueError on a negative grace period, a window under
    1 s, a threshold that is not a percentage above 0 or an unknown ``combine``.

    ``thresholds`` maps resource names (opaque: ``cpu``, ``mem``, ``cuda.util``, ...) to
    percentages, in the unit the samples use."""

    grace_period: int
    window: int
    thresholds: Mapping[str, float]
    combine: Combine = "and"

    def __post_init__(self) -> None:
        _check_seconds("grace_period", self.grace_period, 0)
        _check_seconds("window", self.window, 1)
        _check_thresholds(self.thresholds)
        _check_combine(self.combine)


@dataclass(frozen=True)
class IdlePolicy:
    """The idle checks that apply to a session, resolved (:func:`resolve`). None: the check
    is off. Durations are seconds; ``warn_before`` 0: no warning. Raises ValueError on a
    duration under 1 s or a negative ``warn_before``."""

    max_lifetime: int | None = None
    network_timeout: int | None = None
    utilization: UtilizationRule | None = None
    warn_before: int = 0

    def __post_init__(self) -> None:
        _check_seconds("max_lifetime", self.max_lifetime, 1)
        _check_seconds("network_timeout", self.network_timeout, 1)
        _check_seconds("warn_before", self.warn_before, 0)


@dataclass(frozen=True)
class IdleSettings:
    """Idle settings as a resource group (defaults) or a resource policy stores them.

    None: not set here (a policy takes the group's, a group the built-in default: check off,
    no grace, ``"and"``, no warning). 0 turns a duration's check off, so a policy can turn
    off what its group sets; an empty ``thresholds`` turns the utilization check off.
    ``idle_timeout`` is the network timeout and, unless ``utilization_window`` is set, the
    utilization window too (as the reference product does). Raises ValueError on negative
    durations, bad thresholds or an unknown ``combine``."""

    max_lifetime: int | None = None
    idle_timeout: int | None = None
    utilization_window: int | None = None
    grace_period: int | None = None
    thresholds: Mapping[str, float] | None = None
    combine: Combine | None = None
    warn_before: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_lifetime", "idle_timeout", "utilization_window", "grace_period",
                     "warn_before"):
            _check_seconds(name, getattr(self, name), 0)
        if self.thresholds is not None:
            _check_thresholds(self.thresholds)
        _check_combine(self.combine)


def resolve(group: IdleSettings, policy: IdleSettings | None = None) -> IdlePolicy:
    """The checks for a session whose resource group sets ``group`` and whose resource policy
    sets ``policy``: each field is the policy's unless it is None, then the group's; then
    0 / empty mean off (see :class:`IdleSettings`). A policy's ``thresholds`` replace the
    group's as a whole. The utilization check is on when some threshold is set and a window
    (``utilization_window``, else ``idle_timeout``) is above 0."""
    def pick(name: str) -> Any:
        mine = getattr(policy, name) if policy is not None else None
        return mine if mine is not None else getattr(group, name)

    idle_timeout = pick("idle_timeout") or None
    window = pick("utilization_window") or idle_timeout
    thresholds = pick("thresholds") or {}
    rule = None
    if thresholds and window:
        rule = UtilizationRule(grace_period=pick("grace_period") or 0, window=window,
                               thresholds=dict(thresholds), combine=pick("combine") or "and")
    return IdlePolicy(max_lifetime=pick("max_lifetime") or None, network_timeout=idle_timeout,
                      utilization=rule, warn_before=pick("warn_before") or 0)


# ---- facts and results -----------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """Usage figures taken at ``at``, in percent per resource name. None or absent: no figure
    for that resource in this sample."""

    at: datetime
    values: Mapping[str, float | None]


@dataclass(frozen=True)
class SessionFacts:
    """What the checks read of a session, as stored. All datetimes in one convention (aware,
    UTC in Berth). Raises ValueError on a ``sample_interval`` not above 0.

    ``last_activity_at``: the last traffic between the user and the session (None: none since
    the start; earlier than the start counts as the start). ``requested``: the utilization
    resources the session holds (the caller maps slots to them, e.g. a session with
    ``cuda.device`` requests ``cuda.util`` and ``cuda.mem``); only these are checked.
    ``samples``: in any order; at equal times the later one in the sequence wins; samples
    after ``now`` are ignored. ``sample_interval``: the agents' sampling period (seconds)."""

    type: SessionType
    started_at: datetime
    last_activity_at: datetime | None = None
    requested: frozenset[str] = frozenset()
    samples: Sequence[Sample] = ()
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_interval) and self.sample_interval > 0):
            raise ValueError("sample_interval must be above 0")


@dataclass(frozen=True)
class ResourceUsage:
    """One resource of the utilization check, for the tooltip and the verdict.

    ``average``: time-weighted mean over the covered part of the last window (None: no data).
    ``covered``: the covered fraction of the window (0..1). ``level``: "below" the threshold,
    "near" it (less than ``NEAR_MARGIN`` above) or "ok"; None without data."""

    resource: str
    threshold: float
    average: float | None
    covered: float
    coverage: Coverage
    level: Level | None

    @property
    def considered(self) -> bool:
        """Whether this resource's figures can decide now (its window is full)."""
        return self.coverage == "full"


@dataclass(frozen=True)
class CheckState:
    """One check at ``now``.

    ``remaining``: seconds until ``deadline``, at least 0; None when the check does not apply
    (off, batch session exempt, no resource to check; ``detail["reason"]`` says which).
    ``reached``: remaining is 0 (the check reclaims now, or is about to: "checking").
    ``warn``: a warning is due (remaining at most the policy's ``warn_before``, above 0).
    ``detail``: JSON-ready figures for the API."""

    check: IdleCheck
    remaining: float | None
    deadline: datetime | None = None
    reached: bool = False
    warn: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reclaim:
    """Reclaim the session: its ``status_info`` and ``status_data`` (JSON-ready figures that
    decided it)."""

    check: IdleCheck
    status_info: ReclaimReason
    data: dict[str, Any]


@dataclass(frozen=True)
class IdleReport:
    """``checks``: all three, in :data:`CHECK_ORDER`. ``usage``: the utilization check's
    resources by name (empty when it is off). ``verdict``: None, or the first check in
    :data:`CHECK_ORDER` that reclaims now."""

    checks: tuple[CheckState, ...]
    usage: tuple[ResourceUsage, ...]
    verdict: Reclaim | None

    def check(self, check: IdleCheck) -> CheckState:
        return next(c for c in self.checks if c.check == check)

    @property
    def warnings(self) -> tuple[CheckState, ...]:
        return tuple(c for c in self.checks if c.warn)


# ---- display ---------------------------------------------------------------------------------
def urgency(remaining: float | None) -> Urgency | None:
    """The colour of a remaining time: "red" under an hour, "orange" under four, else None."""
    if remaining is None:
        return None
    if remaining < RED_BELOW:
        return "red"
    return "orange" if remaining < ORANGE_BELOW else None


def format_remaining(remaining: float | None) -> str:
    """``2d 03h``, ``4h 05m``, ``12m 30s``, ``45s`` (whole seconds rounded up, so a time not
    reached never shows 0s); :data:`REACHED_TEXT` at 0 or below; "-" for None."""
    if remaining is None:
        return NOT_APPLICABLE_TEXT
    if remaining <= 0:
        return REACHED_TEXT
    seconds = math.ceil(remaining)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


# ---- the checks ------------------------------------------------------------------------------
def evaluate(policy: IdlePolicy, facts: SessionFacts, now: datetime) -> IdleReport:
    """The three checks of a session at ``now``, and whether one reclaims it.

    Deterministic and free of clocks: the same policy, facts and ``now`` give the same report,
    whenever and however often it is called. With the same facts a later ``now`` gives each
    check a deadline no earlier (lifetime and network: the same one), and a check reclaims
    only at or after every deadline it showed earlier. The caller decides which sessions are
    checked (e.g. only RUNNING ones). Never raises on valid inputs."""
    clock = _Clock(facts.started_at, now)
    lifetime, lifetime_data = _lifetime(policy, facts, clock)
    network, network_data = _network(policy, facts, clock)
    utilization, usage, utilization_data = _utilization(policy.utilization, facts, clock)
    checks = tuple(_with_warning(c, policy.warn_before)
                   for c in (lifetime, network, utilization))
    verdict = None
    for check, data in ((lifetime, lifetime_data), (network, network_data),
                        (utilization, utilization_data)):
        if data is not None:
            verdict = Reclaim(check.check, STATUS_INFO[check.check], data)
            break
    return IdleReport(checks, usage, verdict)


@dataclass(frozen=True)
class _Clock:
    """Times as float seconds since the session started (exact to the microsecond)."""

    origin: datetime
    now_at: datetime

    @property
    def now(self) -> float:
        return self.at(self.now_at)

    def at(self, when: datetime) -> float:
        return (when - self.origin).total_seconds()

    def time(self, seconds: float) -> datetime:
        return self.origin + timedelta(seconds=seconds)


def _state(check: IdleCheck, deadline: float, clock: _Clock, done: bool,
           detail: dict[str, Any]) -> CheckState:
    remaining = 0.0 if done else max(0.0, deadline - clock.now)
    return CheckState(check, remaining, clock.time(deadline), remaining == 0, False, detail)


def _with_warning(state: CheckState, warn_before: int) -> CheckState:
    warn = state.remaining is not None and 0 < state.remaining <= warn_before
    return replace(state, warn=warn) if warn else state


def _off(check: IdleCheck, reason: str) -> CheckState:
    return CheckState(check, None, detail={"reason": reason})


def _lifetime(policy: IdlePolicy, facts: SessionFacts, clock: _Clock
              ) -> tuple[CheckState, dict[str, Any] | None]:
    check = IdleCheck.SESSION_LIFETIME
    if policy.max_lifetime is None:
        return _off(check, "not configured"), None
    done = clock.now >= policy.max_lifetime
    detail = {"max_lifetime": policy.max_lifetime, "started_at": facts.started_at.isoformat()}
    state = _state(check, policy.max_lifetime, clock, done, detail)
    data = {**detail, "lifetime": clock.now} if done else None
    return state, data


def _network(policy: IdlePolicy, facts: SessionFacts, clock: _Clock
             ) -> tuple[CheckState, dict[str, Any] | None]:
    check = IdleCheck.NETWORK_TIMEOUT
    if policy.network_timeout is None:
        return _off(check, "not configured"), None
    if facts.type == SessionType.BATCH:
        return _off(check, "batch sessions are exempt"), None
    last = 0.0
    if facts.last_activity_at is not None:
        last = max(0.0, clock.at(facts.last_activity_at))
    deadline = last + policy.network_timeout
    done = clock.now >= deadline
    detail = {"idle_timeout": policy.network_timeout,
              "last_activity_at": clock.time(last).isoformat()}
    state = _state(check, deadline, clock, done, detail)
    data = {**detail, "idle_for": clock.now - last} if done else None
    return state, data


# ---- utilization -----------------------------------------------------------------------------
Segment = tuple[float, float, float]  # start, end, value: [start, end) in clock seconds


def _segments(samples: Sequence[tuple[float, Mapping[str, float | None]]], resource: str,
              now: float, max_gap: float) -> list[Segment]:
    """The resource's step function up to ``now``: ascending, non-overlapping segments."""
    figures = [(at, value) for at, values in samples
               if (value := values.get(resource)) is not None
               and math.isfinite(value) and value >= 0]
    segments = []
    for i, (at, value) in enumerate(figures):
        ends = [at + max_gap, now]
        if i + 1 < len(figures):
            ends.append(figures[i + 1][0])
        end = min(ends)
        if end > at:
            segments.append((at, end, value))
    return segments


def _run_start(segments: Sequence[Segment], now: float) -> float:
    """Start of the gap-free run of figures that reaches ``now`` (``now`` when none does)."""
    if not segments or segments[-1][1] < now:
        return now
    start = segments[-1][0]
    for seg_start, seg_end, _ in reversed(segments[:-1]):
        if seg_end < start:
            break
        start = seg_start
    return start


def _earliest_below(segments: Sequence[Segment], run_start: float, now: float, window: float,
                    threshold: float) -> float:
    """The earliest time (infimum) at which the window is full and its mean is below
    ``threshold``, if the resource reads 0, without gaps, from ``now`` on. The integral over
    the window only falls as the window slides past ``now``; it reaches 0 at ``now + window``,
    so the answer is at most that."""
    low = max(now - window, run_start)
    target = threshold * window
    inside = [(max(start, low), end, value) for start, end, value in segments if end > low]
    after = sum((end - start) * value for start, end, value in inside)
    for start, end, value in inside:
        after -= (end - start) * value  # now the integral from ``end`` to ``now``
        if after + (end - start) * value < target:
            return start + window
        if after < target:
            return end - (target - after) / value + window
    return now + window


@dataclass(frozen=True)
class _Resource:
    usage: ResourceUsage
    below_at: float  # see _earliest_below
    quiet_at: float  # when it is ignored if it reports nothing more (-inf: ignored already)


def _resource(resource: str, threshold: float, samples: Sequence[tuple[float, Any]],
              window: float, clock: _Clock, max_gap: float) -> _Resource:
    now = clock.now
    segments = _segments(samples, resource, now, max_gap)
    start = now - window
    covered = integral = 0.0
    for seg_start, seg_end, value in segments:
        length = min(seg_end, now) - max(seg_start, start)
        if length > 0:
            covered += length
            integral += length * value
    run_start = _run_start(segments, now)
    if covered <= 0:
        coverage: Coverage = "none"
    else:
        coverage = "full" if run_start <= start else "partial"
    average = integral / covered if covered > 0 else None
    level: Level | None = None
    if average is not None:
        level = ("below" if average < threshold
                 else "near" if average < threshold * (1 + NEAR_MARGIN) else "ok")
    usage = ResourceUsage(resource, threshold, average, min(1.0, covered / window), coverage,
                          level)
    if coverage == "full" and level == "below":
        below_at = now
    else:
        below_at = _earliest_below(segments, run_start, now, window, threshold)
    quiet_at = -math.inf if coverage == "none" else segments[-1][1] + window
    return _Resource(usage, below_at, quiet_at)


def _utilization(rule: UtilizationRule | None, facts: SessionFacts, clock: _Clock
                 ) -> tuple[CheckState, tuple[ResourceUsage, ...], dict[str, Any] | None]:
    check = IdleCheck.UTILIZATION
    if rule is None:
        return _off(check, "not configured"), (), None
    names = sorted(set(rule.thresholds) & facts.requested)
    if not names:
        return _off(check, "no requested resource has a threshold"), (), None
    now = clock.now
    samples = sorted(((clock.at(s.at), s.values) for s in facts.samples if s.at <= clock.now_at),
                     key=lambda pair: pair[0])
    max_gap = GAP_FACTOR * facts.sample_interval
    resources = [_resource(name, rule.thresholds[name], samples, rule.window, clock, max_gap)
                 for name in names]
    usage = tuple(r.usage for r in resources)
    below = [u for u in usage if u.considered and u.level == "below"]
    # "and": any other resource with data in the window holds the verdict back.
    holding = [u for u in usage
               if u.coverage != "none" and not (u.considered and u.level == "below")]
    deadline = max(now, rule.grace_period, min(r.below_at for r in resources))
    if rule.combine == "and":
        deadline = max([deadline, *(min(r.below_at, r.quiet_at) for r in resources)])
    grace_over = now >= rule.grace_period
    done = grace_over and bool(below) and (rule.combine == "or" or not holding)
    full = any(u.considered for u in usage) and (rule.combine == "or" or not any(
        u.coverage == "partial" for u in usage))
    phase: Phase = "grace" if not grace_over else "measuring" if full else "filling"
    detail = {"phase": phase, "grace_period": rule.grace_period, "window": rule.window,
              "combine": rule.combine,
              "grace_ends_at": clock.time(rule.grace_period).isoformat()}
    state = _state(check, deadline, clock, done, detail)
    data = None
    if done:
        data = {**detail, "resources": _figures(u for u in usage if u.considered),
                "below": [u.resource for u in below]}
    return state, usage, data


def _figures(usage: Iterable[ResourceUsage]) -> dict[str, dict[str, float | None]]:
    return {u.resource: {"average": u.average, "threshold": u.threshold} for u in usage}
