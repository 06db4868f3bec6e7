"""Projects, resource groups, presets and resource policies: their rules, decided without I/O.

The admin services validate what an admin sends with the ``*_errors``/``parse_*`` functions
here; session creation (:mod:`berth.domain.launch`) asks :func:`pick_project`,
:func:`group_problems` and :func:`create_limit_errors`; the check API computes what is left
with :func:`remaining` and :func:`allocatable`. Every function is pure: the callers load the
facts once and pass them in.

Hard limits (what a request can never get, whatever runs now) are refused at once with every
violated scope named; what is merely not free *now* is the scheduler's (the session waits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from berth.domain import limits
from berth.domain import slots as sl
from berth.domain.rules import RuleError, cpu_problem, format_size, parse_size

#: Names of projects, resource groups, presets and policies.
ENTITY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENTITY_NAME_MAX = 64
SCHEDULERS = ("fifo", "lifo", "drf")
AGENT_SELECTIONS = ("dispersed", "concentrated")
SESSION_TYPES = ("interactive", "batch")
#: Default and largest priority a non-admin may give a session; admins up to PRIORITY_MAX.
PRIORITY_DEFAULT = 10
PRIORITY_MIN, PRIORITY_MAX = 0, 100
#: A policy's totals may be far larger than one kernel: bounded so sums never overflow.
POLICY_CPU_MAX = 1_000_000
POLICY_MEM_MAX = 2**62
POLICY_ACCELERATOR_MAX = 1_000_000
#: Counts in a policy (sessions, containers, folders, images).
POLICY_COUNT_MAX = 1_000_000
#: Seconds (lifetime, idle timeout, pending timeout): one year fits a 32-bit column.
DURATION_SECONDS_MAX = int(limits.TIMEOUT_MAX.total_seconds())


def entity_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a project, group, preset or policy, or None."""
    if not 1 <= len(name) <= ENTITY_NAME_MAX:
        return f"must be 1 to {ENTITY_NAME_MAX} characters long"
    if not ENTITY_NAME_RE.fullmatch(name):
        return ("may use only ASCII letters, digits, '.', '_' and '-', and must start with a "
                "letter or digit")
    return None


# ---- slot amounts (presets and policies) --------------------------------------------------
def _decimal(value: str | int | float) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _slot_amount(name: str, value: str | int | float, field_: str, total: bool
                 ) -> Decimal | RuleError:
    """One slot's amount: cpu cores, mem/shmem bytes (or size text), accelerator units."""
    if name in ("mem", "shmem"):
        if isinstance(value, float | bool):
            return RuleError(field_, "must be a size such as 512m, 2g or a number of bytes")
        try:
            size = parse_size(value, field_, POLICY_MEM_MAX if total else limits.MEM_MAX)
        except RuleError as e:
            return e
        if name == "mem" and not total and size < limits.MEM_MIN:
            return RuleError(field_, "must be at least 64m")
        return Decimal(size)
    amount = _decimal(value)
    if amount is None:
        return RuleError(field_, "must be a number")
    if name == "cpu":
        if total:
            if amount <= 0:
                return RuleError(field_, "must be greater than zero")
            if amount > POLICY_CPU_MAX:
                return RuleError(field_, f"must be at most {POLICY_CPU_MAX} cores")
            if amount % limits.CPU_STEP != 0:
                return RuleError(field_, "must be a multiple of 0.01 cores")
        elif problem := cpu_problem(amount):
            return RuleError(field_, problem)
        return amount
    top = POLICY_ACCELERATOR_MAX if total else limits.ACCELERATOR_MAX
    if amount <= 0:
        return RuleError(field_, "must be greater than zero")
    if amount > top:
        return RuleError(field_, f"must be at most {top}")
    return amount


def parse_preset_slots(values: Mapping[str, str | int | float], known: Sequence[str],
                       field_: str = "slots") -> sl.Slots | list[RuleError]:
    """A preset's per-kernel slots: cpu and mem required, shmem (at most mem) and the
    registered accelerator slots (``known``: :func:`berth.domain.slots.requestable_slots`)
    optional. Returns the amounts or every problem (fields ``slots.<name>``)."""
    errors: list[RuleError] = []
    amounts: sl.Slots = {}
    for name, value in values.items():
        where = f"{field_}.{name}"
        if name not in known:
            errors.append(RuleError(where, f"unknown resource slot; known slots: "
                                    f"{', '.join(known)}"))
            continue
        parsed = _slot_amount(name, value, where, total=False)
        if isinstance(parsed, RuleError):
            errors.append(parsed)
        else:
            amounts[name] = parsed
    for required in ("cpu", "mem"):
        if required not in values:
            errors.append(RuleError(f"{field_}.{required}", "a preset must set cpu and mem"))
    if "shmem" in amounts and "mem" in amounts and amounts["shmem"] > amounts["mem"]:
        errors.append(RuleError(f"{field_}.shmem", "must not be larger than memory"))
    return errors or amounts


def parse_policy_slots(values: Mapping[str, str | int | float], known: Sequence[str],
                       field_: str = "total_slots") -> sl.Slots | list[RuleError]:
    """A policy's total slots: cpu, mem and registered accelerator slots (shmem is part of
    mem, so it has no total of its own). An absent slot is unlimited."""
    allowed = [k for k in known if k != "shmem"]
    errors: list[RuleError] = []
    amounts: sl.Slots = {}
    for name, value in values.items():
        where = f"{field_}.{name}"
        if name == "shmem":
            errors.append(RuleError(where, "shared memory is part of mem: limit mem instead"))
            continue
        if name not in allowed:
            errors.append(RuleError(where, f"unknown resource slot; known slots: "
                                    f"{', '.join(allowed)}"))
            continue
        parsed = _slot_amount(name, value, where, total=True)
        if isinstance(parsed, RuleError):
            errors.append(parsed)
        else:
            amounts[name] = parsed
    return errors or amounts


def show_amount(slot: str, amount: Decimal) -> str:
    """``4 cores``, ``8g``, ``2`` (accelerators): amounts as the messages show them."""
    if slot == "cpu":
        text = f"{amount.normalize():f}"
        return f"{text} core" if amount == 1 else f"{text} cores"
    if slot in ("mem", "shmem"):
        return format_size(int(amount))
    return f"{amount.normalize():f} {slot}"


# ---- projects, groups, priority -----------------------------------------------------------
@dataclass(frozen=True)
class ProjectFacts:
    id: str
    name: str
    is_active: bool = True
    resource_policy: str | None = None


def pick_project(asked: str | None, memberships: Sequence[ProjectFacts],
                 fallback: ProjectFacts | None, whose: str = "you are") -> ProjectFacts | RuleError:
    """The project a session belongs to: ``asked`` (an id or a name) among the owner's
    ``memberships``; by default the owner's first active project by name, else ``fallback``
    (the 'default' project). ``whose`` words the refusal ("you are", "the owner is")."""
    if asked is None:
        active = sorted((p for p in memberships if p.is_active), key=lambda p: p.name)
        if active:
            return active[0]
        if fallback is None:
            return RuleError("project", f"{whose} not a member of any active project")
        return fallback
    found = next((p for p in memberships if p.id == asked), None) or next(
        (p for p in memberships if p.name == asked), None)
    if found is None:
        return RuleError("project", f"{whose} not a member of a project named '{asked}'")
    if not found.is_active:
        return RuleError("project", f"project '{found.name}' is not active")
    return found


@dataclass(frozen=True)
class GroupFacts:
    """A resource group as a launch sees it. The default (an open, active group allowing
    every session type) is what a caller that does not check groups passes."""

    exists: bool = True
    is_active: bool = True
    #: The owner may use it (see :func:`may_use_group`).
    usable: bool = True
    allowed_session_types: tuple[str, ...] = SESSION_TYPES
    #: The step of accelerator shares in this group.
    accelerator_quantum: Decimal = Decimal("0.1")


def may_use_group(is_superadmin: bool, user_id: str, project_ids: Iterable[str],
                  group_users: Iterable[str], group_projects: Iterable[str]) -> bool:
    """The access rule of resource groups: a group nobody is linked to is open to every
    user; otherwise a user may use it when linked directly or through one of their
    projects. Superadmins may use every group."""
    users, projects = set(group_users), set(group_projects)
    if is_superadmin or not (users or projects):
        return True
    return user_id in users or bool(projects & set(project_ids))


def group_problems(group_name: str, group: GroupFacts, session_type: str) -> list[RuleError]:
    """Why a session of ``session_type`` may not be launched into the group (field
    ``resource_group`` or ``type``)."""
    if not group.exists or not group.usable:
        return [RuleError("resource_group", f"no resource group '{group_name}' you may use")]
    errors = []
    if not group.is_active:
        errors.append(RuleError("resource_group", f"resource group '{group_name}' is not "
                                "active"))
    if session_type not in group.allowed_session_types:
        allowed = " and ".join(group.allowed_session_types) or "no"
        errors.append(RuleError("type", f"resource group '{group_name}' allows {allowed} "
                                "sessions only"))
    return errors


def priority_problem(priority: int, creator_is_admin: bool) -> str | None:
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        return f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}"
    if priority > PRIORITY_DEFAULT and not creator_is_admin:
        return f"only admins may set a priority above {PRIORITY_DEFAULT}"
    return None


# ---- resource policies ---------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyLimits:
    """A resource policy's limits; None (and a slot absent from ``total_slots``): none."""

    name: str
    total_slots: sl.Slots = field(default_factory=dict)
    max_concurrent_sessions: int | None = None
    max_pending_sessions: int | None = None
    max_containers_per_session: int | None = None
    max_session_lifetime: int | None = None
    idle_timeout: int | None = None
    max_folders: int | None = None
    max_customized_images: int | None = None


@dataclass(frozen=True)
class ScopeFacts:
    """One scope a launch is limited by: the owner ("user") or the session's project."""

    scope: str
    policy: PolicyLimits | None
    #: The scope's PENDING sessions now.
    pending: int = 0


def _seconds(value: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


def effective_lifetime(scopes: Iterable[ScopeFacts]) -> int | None:
    """The shortest ``max_session_lifetime`` of the scopes' policies (None: no limit)."""
    found = [s.policy.max_session_lifetime for s in scopes
             if s.policy is not None and s.policy.max_session_lifetime is not None]
    return min(found) if found else None


def _asks(slot: str, per_kernel: Decimal, count: int, cluster_size: int) -> str:
    parts = []
    if count > 1:
        parts.append(f"{count} sessions")
    if cluster_size > 1:
        parts.append(f"{cluster_size} kernels")
    shown = show_amount(slot, per_kernel * count * cluster_size)
    if not parts:
        return f"this asks {shown}"
    return f"this asks {shown} ({' × '.join([*parts, show_amount(slot, per_kernel)])})"


def create_limit_errors(per_kernel: sl.Slots | None, count: int, cluster_size: int,
                        timeout_seconds: int | None, scopes: Sequence[ScopeFacts]
                        ) -> list[RuleError]:
    """Every hard limit of every scope that creating ``count`` sessions of ``cluster_size``
    kernels each, ``per_kernel`` slots per kernel, would break: one error per violated limit
    and scope (two scopes may name the same field, each with its numbers). Not checked here:
    what the scope's running sessions hold now (the scheduler makes such sessions wait).
    ``per_kernel`` None (the request's resources are invalid) skips the totals."""
    errors: list[RuleError] = []
    for scope in scopes:
        policy = scope.policy
        if policy is None:
            continue
        who = f"{scope.scope} policy '{policy.name}'"
        for slot, limit in sorted(policy.total_slots.items()):
            asked = (per_kernel or {}).get(slot, Decimal(0))
            if asked * count * cluster_size > limit:
                errors.append(RuleError(
                    f"resources.{slot}",
                    f"{who} allows {show_amount(slot, limit)} in total; "
                    f"{_asks(slot, asked, count, cluster_size)}"))
        most = policy.max_containers_per_session
        if most is not None and cluster_size > most:
            errors.append(RuleError(
                "cluster_size", f"{who} allows at most {most} containers per session; this "
                f"asks {cluster_size}"))
        most = policy.max_pending_sessions
        if most is not None and scope.pending + count > most:
            errors.append(RuleError(
                "count", f"{who} allows {most} pending sessions; {scope.pending} are pending "
                f"and this adds {count}"))
        most = policy.max_session_lifetime
        if most is not None and timeout_seconds is not None and timeout_seconds > most:
            errors.append(RuleError(
                "timeout", f"{who} allows sessions of at most {_seconds(most)}; this timeout "
                f"is {_seconds(timeout_seconds)}"))
    return errors


# ---- the check API -------------------------------------------------------------------------
def remaining(limits_: Mapping[str, Decimal], used: Mapping[str, Decimal]) -> sl.Slots:
    """What is left of each limited slot (never below zero); unlimited slots are absent."""
    return {k: max(v - used.get(k, Decimal(0)), Decimal(0)) for k, v in limits_.items()}


def within(request: Mapping[str, Decimal], left: Mapping[str, Decimal]) -> bool:
    """``request`` fits what is ``left`` of every limited slot (absent: unlimited)."""
    return all(request.get(k, Decimal(0)) <= v for k, v in left.items())


def allocatable(request: Mapping[str, Decimal], agents_free: Iterable[Mapping[str, Decimal]],
                scope_left: Iterable[Mapping[str, Decimal]]) -> bool:
    """Whether one kernel asking ``request`` could start now: some agent has it free and no
    scope's policy has less left."""
    if not all(within(request, left) for left in scope_left):
        return False
    return any(sl.fits(request, free) for free in agents_free)


def largest(capacities: Iterable[Mapping[str, Decimal]]) -> sl.Slots:
    """Per slot, the largest amount any one agent has: the most one kernel can get."""
    most: sl.Slots = {}
    for capacity in capacities:
        for k, v in capacity.items():
            most[k] = max(most.get(k, Decimal(0)), v)
    return most
