"""Session creation, decided in one pure step.

The service loads what a create request needs once (:class:`LaunchContext`: the owner, the
image, the agents of the resource group, which of the wanted names the owner already uses,
the project, the time and a random seed for generated names); :func:`validate_launch` checks
the whole request against it and returns either every problem (at most one per field, in a
stable order) or a :class:`LaunchPlan` with the values of the rows to write. No I/O, no clock,
no randomness: the same request and context give the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from berth.domain import cluster, devices, limits, policy, rules
from berth.domain import slots as sl
from berth.domain.mounts import Mount
from berth.domain.policy import GroupFacts, ScopeFacts
from berth.domain.rules import RuleError
from berth.domain.status import SessionType
from berth.images import labels

DEFAULT_CPU = Decimal(1)
DEFAULT_MEM = 1 * limits.GiB
DEFAULT_SHMEM = 64 * limits.MiB
BATCH_ONLY = ("startup_command", "starts_at", "timeout")


@dataclass(frozen=True)
class LaunchRequest:
    """What the user asked for (the API's ``SessionCreate`` after its schema checks)."""

    image: str
    type: SessionType = SessionType.INTERACTIVE
    name: str | None = None
    cpu: float | None = None
    mem: str | int | None = None
    shmem: str | int | None = None
    #: Resource slots beyond cpu/mem/shmem, by name (accelerators, or mistakes).
    other_slots: Mapping[str, float] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    threads: int | None = None
    count: int = 1
    startup_command: str | None = None
    starts_at: datetime | None = None
    timeout: str | None = None
    owner_email: str | None = None
    resource_group: str = "default"
    agent: str | None = None
    preopen_ports: Sequence[int] = ()
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    #: A project's id or name; None: the owner's default (:func:`policy.pick_project`).
    project: str | None = None
    #: 0-100, higher first; None: the default (10).
    priority: int | None = None


@dataclass(frozen=True)
class ImageFacts:
    ref: str
    min_slots: Mapping[str, str]
    app_ports: frozenset[int]
    #: Some agent has it (an image no agent has cannot run anywhere).
    available: bool = True
    #: The accelerator plugins it declares it can use (label ``berth.accelerators``).
    accelerators: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AgentFacts:
    id: str
    capacity: Mapping[str, Decimal]


@dataclass(frozen=True)
class LaunchContext:
    """Everything :func:`validate_launch` may consult, loaded once by the service."""

    #: None when ``owner_email`` names no active user.
    owner_id: str | None
    project_id: str
    image: ImageFacts | None
    #: The agents of the request's resource group.
    agents: Sequence[AgentFacts]
    #: Which of :func:`session_names` the owner's active sessions already use.
    taken_names: frozenset[str]
    #: Random text for generated names (``s-<seed>``).
    name_seed: str
    now: datetime
    #: The session's folder mounts, or what is wrong with the asked ones (the service looks
    #: the folders up and plans them with :func:`berth.domain.mounts.plan_mounts`).
    mounts: Sequence[Mount] | Sequence[RuleError] = ()
    #: Why the asked project cannot be used (``project_id`` is then meaningless).
    project_problem: RuleError | None = None
    #: The one who sends the request is an admin (may set priorities above the default).
    creator_is_admin: bool = False
    #: The request's resource group (the default: open, active, every session type).
    group: GroupFacts = field(default_factory=GroupFacts)
    #: The policies the session is limited by (owner, project) with their pending counts.
    scopes: Sequence[ScopeFacts] = ()


@dataclass(frozen=True)
class LaunchPlan:
    """The values of the sessions to create, one per name."""

    names: list[str]
    owner_id: str
    project_id: str
    type: SessionType
    image: str
    resource_group: str
    agent: str | None
    slots: sl.Slots
    environ: dict[str, str]
    startup_command: str | None
    starts_at: datetime | None
    timeout_seconds: int | None
    preopen_ports: list[int]
    mounts: list[Mount] = field(default_factory=list)
    #: Kernels per session (main1, sub1, ...); all on one agent (single-node).
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    priority: int = policy.PRIORITY_DEFAULT


def cores(amount: Decimal) -> str:
    """``1 core``, ``0.5 cores``, ``4 cores``."""
    text = f"{amount.normalize():f}"
    return f"{text} core" if amount == 1 else f"{text} cores"


def session_names(req: LaunchRequest, seed: str) -> list[str]:
    """The names the sessions get: the given one (or ``s-<seed>``), suffixed ``-1`` ... ``-N``
    when more than one is made. The service looks these up before validating."""
    base = req.name or f"s-{seed}"
    if req.count == 1:
        return [base]
    return [f"{base}-{i}" for i in range(1, req.count + 1)]


class _Errors:
    """Collects at most one error per field, in the order found."""

    def __init__(self) -> None:
        self.by_field: dict[str, RuleError] = {}

    def add(self, field_: str, message: str) -> None:
        self.by_field.setdefault(field_, RuleError(field_, message))

    def extend(self, errors: Sequence[RuleError]) -> None:
        for e in errors:
            self.add(e.field, e.message)

    def has(self, *fields: str) -> bool:
        return any(f in self.by_field for f in fields)


def validate_launch(req: LaunchRequest, ctx: LaunchContext) -> LaunchPlan | list[RuleError]:
    """Check ``req`` against ``ctx``: every broken rule (a list, never empty), or the plan."""
    errors = _Errors()
    names = _check_names(req, ctx, errors)
    timeout = _check_batch(req, ctx, errors)
    environ = _check_environ(req, errors)
    slots = _check_resources(req, ctx, errors)
    _check_group_and_priority(req, ctx, errors)  # before placement: access is the news
    _check_placement(req, ctx, slots, errors)
    if ctx.image is not None:
        ports = list(req.preopen_ports)
        try:
            rules.check_ports(ports, "preopen_ports", ctx.image.app_ports)
        except RuleError as e:
            errors.add(e.field, e.message)
    if ctx.owner_id is None:
        errors.add("owner_email", f"no active user with email {req.owner_email}"
                   if req.owner_email is not None else "your account is not active")
    mounts = [m for m in ctx.mounts if isinstance(m, Mount)]
    errors.extend([e for e in ctx.mounts if isinstance(e, RuleError)])
    _check_cluster(req, ctx, slots, errors)
    if ctx.project_problem is not None:
        errors.add(ctx.project_problem.field, ctx.project_problem.message)
    timeout = _lifetime(req, ctx, timeout, errors)
    # Policy limits go beside the per-field errors: each violated scope is named on its own,
    # so one field may carry two of them (the user's and the project's).
    over = policy.create_limit_errors(slots, req.count, req.cluster_size, timeout, ctx.scopes)
    if errors.by_field or over or ctx.owner_id is None or slots is None:
        return [*errors.by_field.values(), *over]
    return LaunchPlan(
        names=names,
        owner_id=ctx.owner_id,
        project_id=ctx.project_id,
        type=req.type,
        image=req.image,
        resource_group=req.resource_group,
        agent=req.agent,
        slots=slots,
        environ=environ,
        startup_command=req.startup_command,
        starts_at=req.starts_at.astimezone(UTC) if req.starts_at else None,
        timeout_seconds=timeout,
        preopen_ports=list(req.preopen_ports),
        mounts=mounts,
        cluster_size=req.cluster_size,
        cluster_mode=req.cluster_mode,
        priority=policy.PRIORITY_DEFAULT if req.priority is None else req.priority,
    )


def _check_group_and_priority(req: LaunchRequest, ctx: LaunchContext, errors: _Errors) -> None:
    errors.extend(policy.group_problems(req.resource_group, ctx.group, str(req.type)))
    if req.priority is not None and (
            problem := policy.priority_problem(req.priority, ctx.creator_is_admin)):
        errors.add("priority", problem)


def _lifetime(req: LaunchRequest, ctx: LaunchContext, timeout: int | None,
              errors: _Errors) -> int | None:
    """The session's timeout in seconds: the batch timeout asked, else the shortest
    ``max_session_lifetime`` of its policies (recorded for every session type; a longer
    asked timeout is refused by :func:`policy.create_limit_errors`)."""
    lifetime = policy.effective_lifetime(ctx.scopes)
    if timeout is None and not errors.has("timeout"):
        return lifetime
    return timeout


def _check_names(req: LaunchRequest, ctx: LaunchContext, errors: _Errors) -> list[str]:
    if not 1 <= req.count <= limits.SESSIONS_PER_REQUEST_MAX:
        errors.add("count", f"must be between 1 and {limits.SESSIONS_PER_REQUEST_MAX}")
        return []
    names = session_names(req, ctx.name_seed)
    try:
        if req.name:
            rules.check_session_name(req.name)
        if req.count > 1:
            rules.check_session_name(names[-1])
    except RuleError as e:
        errors.add(e.field, e.message)
        return names
    taken = [n for n in names if n in ctx.taken_names]
    if len(taken) == 1:
        errors.add("name", f"another active session is already named '{taken[0]}'")
    elif taken:
        shown = ", ".join(f"'{n}'" for n in taken[:3]) + (", ..." if len(taken) > 3 else "")
        errors.add("name", f"other active sessions are already named {shown}")
    return names


def _check_batch(req: LaunchRequest, ctx: LaunchContext, errors: _Errors) -> int | None:
    """The batch-only options; returns the timeout in whole seconds."""
    if req.type is SessionType.BATCH:
        if not (req.startup_command or "").strip():
            errors.add("startup_command", "a batch session needs a startup command")
    else:
        for name in BATCH_ONLY:
            if getattr(req, name) is not None:
                errors.add(name, "only batch sessions take this option")
    if req.startup_command and (problem := rules.startup_command_problem(req.startup_command)):
        errors.add("startup_command", problem)
    if req.starts_at is not None and (problem := rules.starts_at_problem(req.starts_at, ctx.now)):
        errors.add("starts_at", problem)
    if req.timeout is None:
        return None
    try:
        return math.ceil(rules.parse_duration(req.timeout, "timeout").total_seconds())
    except RuleError as e:
        errors.add(e.field, e.message)
        return None


def _check_environ(req: LaunchRequest, errors: _Errors) -> dict[str, str]:
    environ = dict(req.environ)
    errors.extend(rules.environ_errors(environ))
    if req.threads is not None:
        try:
            rules.check_threads(req.threads, "threads")
        except RuleError as e:
            errors.add(e.field, e.message)
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            environ.setdefault(key, str(req.threads))
    return environ


def _size(value: str | int | None, default: int, name: str, errors: _Errors) -> int | None:
    if value is None:
        return default
    try:
        return rules.parse_size(value, f"resources.{name}")
    except RuleError as e:
        errors.add(e.field, e.message)
        return None


def _check_resources(req: LaunchRequest, ctx: LaunchContext, errors: _Errors) -> sl.Slots | None:
    """cpu/mem/shmem with their defaults (raised to the image's minimum), checked against
    the rules, the image's minimum and the slot registry; None when any is unusable."""
    errors.extend(rules.slot_name_errors(req.other_slots, sl.requestable_slots()))
    minimum = ctx.image.min_slots if ctx.image else {}
    min_cpu = Decimal(minimum.get("cpu", "0"))
    min_mem = int(Decimal(minimum.get("mem", "0")))
    cpu = max(DEFAULT_CPU, min_cpu)
    if req.cpu is not None:
        if problem := rules.cpu_problem(req.cpu):
            errors.add("resources.cpu", problem)  # and go on with the default: other fields'
        else:                                     # errors are still worth reporting
            cpu = Decimal(str(req.cpu))
    mem = _size(req.mem, max(DEFAULT_MEM, min_mem), "mem", errors)
    shmem = _size(req.shmem, min(DEFAULT_SHMEM, mem or DEFAULT_SHMEM), "shmem", errors)
    if mem is None or shmem is None:
        return None
    errors.extend(rules.resource_errors(cpu, mem, shmem))
    if cpu < min_cpu:
        errors.add("resources.cpu", f"the image needs at least {cores(min_cpu)}")
    if mem < min_mem:
        errors.add("resources.mem", f"the image needs at least {rules.format_size(min_mem)}")
    if errors.has("resources.cpu", "resources.mem", "resources.shmem"):
        return None
    # Registered accelerator slots travel with the request (the scheduler and the policies
    # count them); zero amounts are no request at all.
    extra = {k: Decimal(str(v)) for k, v in req.other_slots.items()
             if k in sl.ACCELERATOR_SLOTS and v > 0}
    bad = False
    for prefix in sorted({k.rsplit(".", 1)[0] for k in extra if "." in k}):
        found = devices.validate_request(extra, prefix, ctx.group.accelerator_quantum,
                                         req.cluster_size)
        for e in found:
            errors.add(f"resources.{e.field}", e.message)
        bad = bad or bool(found)
    if bad:
        return None
    return {"cpu": cpu, "mem": Decimal(mem), "shmem": Decimal(shmem), **extra}


def _check_placement(
    req: LaunchRequest, ctx: LaunchContext, want: sl.Slots | None, errors: _Errors
) -> None:
    """The image exists; the group (or the designated agent) exists and can ever hold
    ``want``: larger than the largest agent is an error, busy agents are the scheduler's."""
    if ctx.image is None or not ctx.image.available:
        errors.add("image", f"unknown image '{req.image}'; see the image list")
    agents = list(ctx.agents)
    if req.agent is not None:
        agents = [a for a in agents if a.id == req.agent]
        if not agents:
            errors.add("agent", f"no agent {req.agent} in resource group {req.resource_group}")
            return
    if not agents:
        errors.add("resource_group", f"no agent in resource group {req.resource_group}")
        return
    if want is None:
        return
    for key, name in (("cpu", "resources.cpu"), ("mem", "resources.mem")):
        largest = max(a.capacity.get(key, Decimal(0)) for a in agents)
        if want[key] > largest:
            shown = rules.format_size(int(largest)) if key == "mem" else cores(largest)
            errors.add(name, f"exceeds the largest agent's capacity ({shown})")
    prefixes = sorted({k.rsplit(".", 1)[0] for k in want if sl.is_accelerator(k) and "." in k})
    for prefix in prefixes:
        if ctx.image is not None and prefix in labels.NEED_IMAGE_SUPPORT and (
                prefix not in ctx.image.accelerators):
            errors.add("image", f"image '{ctx.image.ref}' cannot use {prefix} devices (its "
                       f"label {labels.ACCELERATORS} does not list {prefix}); pick an image "
                       f"built for {prefix}, or ask for no {prefix} devices")
    for key in sorted(k for k in want if sl.is_accelerator(k)):
        largest = max(a.capacity.get(key, Decimal(0)) for a in agents)
        total = want[key] * max(1, req.cluster_size)
        if total > largest:
            where = f"agent {req.agent}" if req.agent else f"resource group {req.resource_group}"
            errors.add(f"resources.{key}", (
                f"no agent of {where} has devices for {key}" if not largest else
                f"{sl.format_amount(key, total)} exceeds the largest agent's "
                f"{sl.format_amount(key, largest)}") + " (it could never start)")


def _check_cluster(
    req: LaunchRequest, ctx: LaunchContext, want: sl.Slots | None, errors: _Errors
) -> None:
    """Cluster sessions are single-node: the ``cluster_size`` kernels, each with the
    requested resources, must fit together on one agent (the designated one, if any)."""
    if req.cluster_mode != "single-node":
        errors.add("cluster_mode", cluster.MULTI_NODE_REFUSAL)
        return
    if not 1 <= req.cluster_size <= limits.CLUSTER_SIZE_MAX:
        errors.add("cluster_size", f"must be between 1 and {limits.CLUSTER_SIZE_MAX}")
        return
    if req.cluster_size == 1 or want is None or errors.has("resources.cpu", "resources.mem"):
        return
    agents = [a for a in ctx.agents if req.agent is None or a.id == req.agent]
    if not agents:
        return
    for key in ("cpu", "mem"):
        total = want[key] * req.cluster_size
        largest = max(a.capacity.get(key, Decimal(0)) for a in agents)
        if total > largest:
            shown = rules.format_size(int(largest)) if key == "mem" else cores(largest)
            asked = rules.format_size(int(total)) if key == "mem" else cores(total)
            errors.add("cluster_size", f"{req.cluster_size} kernels need {asked} ({key}) on one "
                       f"agent; the largest has {shown}")
            return
