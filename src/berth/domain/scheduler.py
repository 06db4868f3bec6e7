"""The scheduler: a pure function from a snapshot of the cluster to a Plan.

No database, clock or randomness inside: the dispatcher reads a :class:`Snapshot`, calls
:func:`schedule`, and applies the returned :class:`Plan` in one transaction, rejecting it when
the agents it places sessions on have changed meanwhile (stale plan).

Policy (docs/scheduler.md has it in full):

- Resource groups are scheduled independently (in name order, which matters only for the
  user and project quotas they share).
- Within a group, sessions go by priority (higher first), then by the group's order: ``fifo``
  (oldest first), ``lifo`` (newest first) or ``drf`` (the owner with the lowest dominant share
  of the group first, shares updated as sessions are placed, then oldest first).
- A session that waits for free resources holds back every later session of its group, so
  a large request is not starved by a stream of small ones. A session that waits for its
  own reasons holds back no one: its start time, its user's or project's quota, its
  designated agent (strict: only that agent), its image (no agent has it), or a request no
  agent of the group could ever hold.
- Agents: schedulable agents of the group that have the session's image and on which the
  session (``cluster_size`` kernels × the request per kernel) fits; ``dispersed`` picks the one
  with the most free (see :data:`berth.domain.slots.RANK_SLOTS`), ``concentrated`` the one with
  the least free that fits; a session that needs no accelerator goes to an agent without
  accelerators when one fits.
- Accelerator devices: on an agent with devices (``AgentState.devices``), a session that asks
  for some of a plugin's slots must also get specific devices for each kernel from the pure
  allocator (:mod:`berth.domain.devices`, the group's quantum and fill/spread policy); the
  Plan carries them (``Plan.devices``). Counting the slots alone is not enough: a device
  holding shares cannot be given whole, and free shares may be split over devices.
- A session PENDING longer than its group's ``pending_timeout`` (counted from its start time
  when it has one) is cancelled.

Every session left waiting gets the checks that passed and failed, with messages, and its
1-based position in its group's queue.

Scale: agents are kept in lists sorted by their rank, one per (group, image, has
accelerators), built on first use and updated in O(agents) memmoves per placement; a search
walks such a list from the best end and stops at the first agent that fits. Once a group is
held back, its later sessions are not searched at all.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from heapq import heapify, heappop, heappush

from berth.domain import devices as dv
from berth.domain import slots as sl

FIFO, LIFO, DRF = "fifo", "lifo", "drf"
DISPERSED, CONCENTRATED = "dispersed", "concentrated"
ZERO = Decimal(0)


@dataclass(frozen=True)
class GroupState:
    """A resource group's scheduling settings, and for ``drf`` what each owner's occupying
    sessions hold in it now (owner id -> slots). A group absent from the snapshot is taken
    with these defaults."""

    name: str
    scheduler: str = FIFO
    agent_selection: str = DISPERSED
    #: Seconds a session may wait before it is cancelled; 0: forever.
    pending_timeout: int = 0
    is_active: bool = True
    usage: Mapping[str, sl.Slots] = field(default_factory=dict)
    #: Step of accelerator shares, and whether shares pack onto the most used device that
    #: fits (``fill``) or go to the least used (``spread``).
    quantum: Decimal = dv.DEFAULT_QUANTUM
    device_policy: dv.Policy = "fill"


@dataclass(frozen=True)
class AgentState:
    id: str
    resource_group: str
    capacity: sl.Slots
    occupied: sl.Slots
    schedulable: bool = True
    #: The image refs the agent has; None: not known, so any (tests of other rules only; the
    #: dispatcher always gives the set).
    images: frozenset[str] | None = None
    #: Accelerator devices by plugin (slot prefix), and what kernels hold of them now
    #: (prefix -> kernel id -> allocation).
    devices: Mapping[str, tuple[dv.Device, ...]] = field(default_factory=dict)
    held: Mapping[str, Mapping[str, dv.Allocation]] = field(default_factory=dict)

    @property
    def free(self) -> sl.Slots:
        return sl.free(self.capacity, self.occupied)

    @property
    def accelerated(self) -> bool:
        """The agent has some accelerator capacity."""
        return sl.has_accelerator(self.capacity)


@dataclass(frozen=True)
class PendingSession:
    id: str
    created_at: datetime
    #: Per kernel; the session needs ``cluster_size`` times this on one agent.
    requested: sl.Slots
    resource_group: str = "default"
    starts_at: datetime | None = None
    agent_id: str | None = None  # a designated agent: the session runs there or waits
    priority: int = 10
    image: str | None = None  # None: no image requirement (tests of other rules)
    owner_id: str = ""
    project_id: str = ""
    cluster_size: int = 1
    type: str = "interactive"
    name: str = ""

    @property
    def need(self) -> sl.Slots:
        """What the whole session takes on its agent."""
        return sl.scale(self.requested, self.cluster_size)


@dataclass(frozen=True)
class Quota:
    """A user's or project's resource policy with what its occupying sessions hold now.
    ``total_slots``: slot -> limit (an absent slot is unlimited); None: no limit."""

    scope: str  # "user" or "project"
    id: str
    policy: str
    total_slots: sl.Slots = field(default_factory=dict)
    max_concurrent_sessions: int | None = None
    used: sl.Slots = field(default_factory=dict)
    sessions: int = 0


@dataclass(frozen=True)
class Snapshot:
    agents: tuple[AgentState, ...]
    groups: Mapping[str, GroupState] = field(default_factory=dict)
    #: (scope, id) -> quota, scope "user" or "project"; absent: unlimited.
    quotas: Mapping[tuple[str, str], Quota] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str


@dataclass
class Plan:
    """Assignments to make; for every session left pending, why it waits and where it stands
    in its group's queue; the sessions to cancel for waiting too long."""

    assignments: dict[str, str] = field(default_factory=dict)  # session id -> agent id
    #: For placed sessions that asked for accelerators: per kernel (main1 first), the
    #: allocation of each plugin asked for.
    devices: dict[str, list[list[dv.Allocation]]] = field(default_factory=dict)
    waiting: dict[str, list[Check]] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)  # session id -> 1-based
    cancelled: dict[str, str] = field(default_factory=dict)  # session id -> why


# --- agents ----------------------------------------------------------------------------------

Key = tuple[object, ...]


def _rank(free: Mapping[str, Decimal], agent_id: str) -> Key:
    return (*(free.get(s, ZERO) for s in sl.RANK_SLOTS), agent_id)


def _fits(need: tuple[tuple[str, Decimal], ...], free: Mapping[str, Decimal]) -> bool:
    for key, amount in need:  # noqa: SIM110 - a loop is faster than all() here
        if free.get(key, ZERO) < amount:
            return False
    return True


class _Agent:
    __slots__ = ("accel", "capacity", "devices", "free", "held", "id", "images", "key")

    def __init__(self, state: AgentState) -> None:
        self.id = state.id
        self.capacity = state.capacity
        self.free = state.free
        self.images = state.images
        self.accel = state.accelerated
        self.key = _rank(self.free, self.id)
        self.devices = state.devices
        self.held = {k: dict(v) for k, v in state.held.items()}

    def allocate(self, p: PendingSession, group: GroupState
                 ) -> list[list[dv.Allocation]] | dv.Shortage:
        """Devices for each of ``p``'s kernels (empty: it asks for none of the devices
        this agent lists), or what is short. Does not take them (:meth:`take_devices` does)."""
        # Slots of a plugin whose devices the agent does not list are only counted.
        prefixes = [x for x in _prefixes(p.requested) if x in self.devices]
        if not prefixes:
            return []
        held = {k: dict(v) for k, v in self.held.items()}
        kernels: list[list[dv.Allocation]] = []
        for index in range(p.cluster_size):
            mine: list[dv.Allocation] = []
            for prefix in prefixes:
                got = dv.allocate(self.devices.get(prefix, ()), held.get(prefix, {}),
                                  p.requested, prefix, group.quantum, group.device_policy)
                if isinstance(got, dv.Shortage):
                    return got
                if got is not None:
                    held.setdefault(prefix, {})[f"{p.id}#{index}"] = got
                    mine.append(got)
            kernels.append(mine)
        return kernels

    def take_devices(self, p: PendingSession, kernels: list[list[dv.Allocation]]) -> None:
        for index, allocations in enumerate(kernels):
            for a in allocations:
                self.held.setdefault(a.slot_prefix, {})[f"{p.id}#{index}"] = a

    def has(self, image: str | None) -> bool:
        return image is None or self.images is None or image in self.images

    @property
    def spent(self) -> bool:
        """Nothing left of some rank slot: only a request for none of it could fit."""
        return any(self.free.get(s, ZERO) <= 0 for s in sl.RANK_SLOTS)


class _Pool:
    """A group's schedulable agents, with lists of rank keys per (image, accelerated) of
    the agents not spent (a spent agent has none left of some rank slot, so requests that
    ask for some of every rank slot, the usual ones, never look at it)."""

    def __init__(self, agents: list[_Agent]) -> None:
        self.agents = {a.id: a for a in agents}
        self.lists: dict[tuple[str | None, bool], list[Key]] = {}
        self.member_of: dict[str, list[list[Key]]] = defaultdict(list)
        self.capacity = sl.total(a.capacity for a in agents)
        self.image_counts: dict[str | None, int] = {}

    def ranked(self, image: str | None, accel: bool) -> list[Key]:
        found = self.lists.get((image, accel))
        if found is None:
            found = sorted(a.key for a in self.agents.values()
                           if a.accel == accel and a.has(image) and not a.spent)
            self.lists[(image, accel)] = found
            for key in found:
                self.member_of[str(key[-1])].append(found)
        return found

    def with_image(self, image: str | None) -> int:
        if image not in self.image_counts:
            self.image_counts[image] = sum(1 for a in self.agents.values() if a.has(image))
        return self.image_counts[image]

    def find(self, need: tuple[tuple[str, Decimal], ...], image: str | None, accel: bool,
             pack: bool, devices_fit: Callable[[_Agent], bool] | None = None) -> _Agent | None:
        """The best agent with ``image`` on which ``need`` fits (and ``devices_fit``, when
        given: the session's accelerator devices can be chosen there)."""
        if devices_fit is not None:
            def fits(n: tuple[tuple[str, Decimal], ...], a: _Agent) -> bool:
                return _fits(n, a.free) and devices_fit(a)
        else:
            def fits(n: tuple[tuple[str, Decimal], ...], a: _Agent) -> bool:
                return _fits(n, a.free)
        asks = dict(need)
        kinds = (True,) if accel else (False, True)
        if not all(asks.get(s, ZERO) > 0 for s in sl.RANK_SLOTS):
            # A request for none of some rank slot may fit on a spent agent: look at all.
            for kind in kinds:
                fitting = [a for a in self.agents.values()
                           if a.accel == kind and a.has(image) and fits(need, a)]
                if fitting:
                    choose = min if pack else max
                    return choose(fitting, key=lambda a: a.key)
            return None
        first = asks.get(sl.RANK_SLOTS[0], ZERO) if sl.RANK_SLOTS else ZERO
        for kind in kinds:
            ranked = self.ranked(image, kind)
            if pack:
                for i in range(bisect_left(ranked, (first,)), len(ranked)):
                    agent = self.agents[str(ranked[i][-1])]
                    if fits(need, agent):
                        return agent
            else:
                for i in range(len(ranked) - 1, -1, -1):
                    key = ranked[i]
                    if key[0] < first:  # type: ignore[operator]
                        break  # the rest have less still
                    agent = self.agents[str(key[-1])]
                    if fits(need, agent):
                        return agent
        return None

    def take(self, agent: _Agent, need: sl.Slots) -> None:
        old = agent.key
        agent.free = sl.sub(agent.free, need)
        agent.key = _rank(agent.free, agent.id)
        spent = agent.spent
        for ranked in self.member_of.get(agent.id, []):
            del ranked[bisect_left(ranked, old)]
            if not spent:
                insort(ranked, agent.key)
        if spent:
            self.member_of.pop(agent.id, None)


def _prefixes(requested: Mapping[str, Decimal]) -> list[str]:
    """The accelerator plugins (slot prefixes) a request asks something of, by name."""
    return sorted({k.rsplit(".", 1)[0] for k, v in requested.items()
                   if v > 0 and "." in k and sl.is_accelerator(k)})


# --- quotas ----------------------------------------------------------------------------------


class _Quota:
    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self.used = dict(quota.used)
        self.sessions = quota.sessions

    def violations(self, need: sl.Slots, per_kernel: str) -> list[str]:
        q = self.quota
        head = f"{q.scope} policy '{q.policy}'"
        found = []
        for key, limit in sorted(q.total_slots.items()):
            asks = need.get(key, ZERO)
            used = self.used.get(key, ZERO)
            if asks > 0 and used + asks > limit:
                found.append(
                    f"{head} allows {key} {sl.format_amount(key, limit)} in total; "
                    f"{sl.format_amount(key, used)} in use, this asks "
                    f"{sl.format_amount(key, asks)}{per_kernel}"
                )
        if q.max_concurrent_sessions is not None and self.sessions + 1 > q.max_concurrent_sessions:
            found.append(f"{head} allows {q.max_concurrent_sessions} concurrent session(s); "
                         f"{self.sessions} in use")
        return found

    def take(self, need: sl.Slots) -> None:
        self.used = sl.add(self.used, need)
        self.sessions += 1


# --- order -----------------------------------------------------------------------------------


def _by_age(sessions: list[PendingSession], newest_first: bool) -> list[PendingSession]:
    ordered = sorted(sessions, key=lambda p: (p.created_at, p.id), reverse=newest_first)
    return sorted(ordered, key=lambda p: -p.priority)  # stable: age order within a priority


class _Order:
    """The group's queue order; ``placed`` tells it what was placed (DRF shares change)."""

    def __init__(self, group: GroupState, sessions: list[PendingSession], capacity: sl.Slots):
        self.group = group
        self.sessions = sessions
        self.capacity = {k: v for k, v in capacity.items() if v > 0 and sl.is_capacity(k)}
        self.usage: dict[str, sl.Slots] = {k: dict(v) for k, v in group.usage.items()}

    def share(self, owner: str) -> Decimal:
        used = self.usage.get(owner, {})
        return max((used.get(k, ZERO) / v for k, v in self.capacity.items()), default=ZERO)

    def placed(self, session: PendingSession) -> None:
        if self.group.scheduler == DRF:
            self.usage[session.owner_id] = sl.add(self.usage.get(session.owner_id, {}),
                                                  session.need)

    def __iter__(self) -> Iterator[PendingSession]:
        if self.group.scheduler != DRF:
            yield from _by_age(self.sessions, self.group.scheduler == LIFO)
            return
        levels: dict[int, dict[str, deque[PendingSession]]] = defaultdict(dict)
        for p in _by_age(self.sessions, False):
            levels[p.priority].setdefault(p.owner_id, deque()).append(p)
        for priority in sorted(levels, reverse=True):
            owners = levels[priority]
            heap = [(self.share(o), q[0].created_at, q[0].id, o) for o, q in owners.items()]
            heapify(heap)
            while heap:
                owner = heappop(heap)[3]
                queue = owners[owner]
                yield queue.popleft()
                if queue:
                    heappush(heap, (self.share(owner), queue[0].created_at, queue[0].id, owner))


# --- one session -----------------------------------------------------------------------------


def _label(p: PendingSession) -> str:
    return f"session '{p.name}' ({p.id})" if p.name else f"session {p.id}"


@dataclass
class _Outcome:
    checks: list[Check]
    agent: _Agent | None = None
    blocks: bool = False  # waits for free resources: holds back the rest of its group
    devices: list[list[dv.Allocation]] = field(default_factory=list)


class _Group:
    def __init__(self, state: GroupState, pool: _Pool,
                 quotas: dict[tuple[str, str], _Quota]) -> None:
        self.state = state
        self.pool = pool
        self.quotas = quotas
        self.blocker: PendingSession | None = None

    def consider(self, p: PendingSession, now: datetime) -> _Outcome:
        checks: list[Check] = []
        if p.starts_at is not None:
            at = p.starts_at.isoformat(timespec="seconds")
            if p.starts_at > now:
                return _Outcome([Check("start-time", False, f"will not start before {at}")])
            checks.append(Check("start-time", True, f"start time {at} reached"))
        g = self.state
        if not g.is_active:
            checks.append(Check("resource-group", False,
                                f"resource group '{g.name}' is not active"))
            return _Outcome(checks)
        need = p.need
        per_kernel = f" ({p.cluster_size} kernels)" if p.cluster_size > 1 else ""
        quota_failed = False
        for scope, owner in (("user", p.owner_id), ("project", p.project_id)):
            quota = self.quotas.get((scope, owner))
            if quota is None:
                continue
            found = quota.violations(need, per_kernel)
            quota_failed = quota_failed or bool(found)
            checks.append(Check(f"{scope}-quota", not found, "; ".join(found) or
                                f"within {scope} policy '{quota.quota.policy}'"))
        if quota_failed:
            return _Outcome(checks)
        pool = self.pool
        if p.agent_id is not None:
            agent = pool.agents.get(p.agent_id)
            if agent is None:
                checks.append(Check("agent-available", False,
                                    f"no alive agent {p.agent_id} taking sessions in the "
                                    f"resource group '{g.name}'"))
                return _Outcome(checks)
            checks.append(Check("agent-available", True, f"agent {agent.id} alive"))
            if not agent.has(p.image):
                checks.append(Check("agent-image", False,
                                    f"agent {agent.id} does not have image {p.image}"))
                return _Outcome(checks)
        else:
            if not pool.agents:
                checks.append(Check("agent-available", False,
                                    f"no alive agent in the resource group '{g.name}'"))
                return _Outcome(checks)
            checks.append(Check("agent-available", True, f"{len(pool.agents)} agent(s) alive"))
            if p.image is not None:
                count = pool.with_image(p.image)
                if not count:
                    checks.append(Check("agent-image", False, "no agent in the resource group "
                                        f"'{g.name}' has image {p.image}"))
                    return _Outcome(checks)
                checks.append(Check("agent-image", True, f"{count} agent(s) have image {p.image}"))
        if self.blocker is not None:
            b = self.blocker
            checks.append(Check("queue", False, f"held back behind {_label(b)} (priority "
                                f"{b.priority}), which waits for resources first"))
            return _Outcome(checks)
        checks.append(Check("queue", True, "not held back"))
        want = tuple(sorted((k, v) for k, v in need.items() if v > 0 and sl.is_capacity(k)))
        accel = sl.has_accelerator(need)
        tried: dict[str, list[list[dv.Allocation]] | dv.Shortage] = {}

        def devices_fit(agent: _Agent) -> bool:
            tried[agent.id] = agent.allocate(p, g)
            return not isinstance(tried[agent.id], dv.Shortage)
        check = devices_fit if _prefixes(p.requested) else None
        if p.agent_id is not None:
            agent = pool.agents[p.agent_id]
            ok = _fits(want, agent.free) and (check is None or check(agent))
            chosen = agent if ok else None
            candidates = [agent]
        else:
            pack = g.agent_selection == CONCENTRATED
            chosen = pool.find(want, p.image, accel, pack, check)
            candidates = []
        if chosen is not None:
            checks.append(Check("agent-resources", True, f"fits on {chosen.id}"))
            got = tried.get(chosen.id, [])
            return _Outcome(checks, chosen, devices=got if isinstance(got, list) else [])
        if not candidates:  # the search failed: look at every agent once, for the message
            candidates = [a for a in pool.agents.values() if a.has(p.image)]
        many = f" for {p.cluster_size} kernels" if p.cluster_size > 1 else ""
        large = [a for a in candidates if _fits(want, a.capacity)]
        if not large:
            best = min(candidates, key=lambda a: (sum(sl.shortfall(need, a.capacity).values()),
                                                  a.id))
            short = sl.describe(sl.shortfall(need, best.capacity))
            what = (f"agent {best.id} is not" if p.agent_id is not None
                    else "no agent in the resource group is")
            checks.append(Check("agent-resources", False,
                                f"{what} large enough{many} ({best.id}: short of {short})"))
            return _Outcome(checks)
        best = min(large, key=lambda a: (sum(sl.shortfall(need, a.free).values()), a.id))
        short = sl.describe(sl.shortfall(need, best.free))
        if not short and check is not None:  # the slots are free, the devices are not
            got = best.allocate(p, g)
            short = str(got) if isinstance(got, dv.Shortage) else short
        what = f"agent {best.id} has not" if p.agent_id is not None else "no agent has"
        checks.append(Check("agent-resources", False,
                            f"{what} enough free resources{many} ({best.id}: short of {short})"))
        return _Outcome(checks, blocks=p.agent_id is None)


def _timed_out(p: PendingSession, group: GroupState, now: datetime) -> str | None:
    if group.pending_timeout <= 0:
        return None
    since = max(p.created_at, p.starts_at) if p.starts_at is not None else p.created_at
    if now - since <= timedelta(seconds=group.pending_timeout):
        return None
    return (f"waited longer than the pending timeout of resource group '{group.name}' "
            f"({group.pending_timeout} s)")


def schedule(snapshot: Snapshot, pending: list[PendingSession], now: datetime) -> Plan:
    """Decide which pending sessions start now and on which agent, which wait (why, and at
    which position) and which are cancelled for waiting too long.

    Pure and deterministic: the same inputs give the same Plan, whatever the order of
    ``pending`` and of the snapshot's agents. Resources assigned earlier in the same call
    are taken into account."""
    plan = Plan()
    by_group: dict[str, list[_Agent]] = defaultdict(list)
    for agent in sorted(snapshot.agents, key=lambda a: a.id):
        if agent.schedulable:
            by_group[agent.resource_group].append(_Agent(agent))
    quotas = {k: _Quota(q) for k, q in snapshot.quotas.items()}
    sessions: dict[str, list[PendingSession]] = defaultdict(list)
    for p in pending:
        sessions[p.resource_group].append(p)
    for name in sorted(sessions):
        state = snapshot.groups.get(name) or GroupState(name)
        pool = _Pool(by_group.get(name, []))
        group = _Group(state, pool, quotas)
        queue: list[PendingSession] = []
        for p in sessions[name]:
            why = _timed_out(p, state, now)
            if why is not None:
                plan.cancelled[p.id] = why
            else:
                queue.append(p)
        order = _Order(state, queue, pool.capacity)
        position = 0
        for p in order:
            outcome = group.consider(p, now)
            if outcome.agent is not None:
                need = p.need
                pool.take(outcome.agent, need)
                if outcome.devices:
                    outcome.agent.take_devices(p, outcome.devices)
                    plan.devices[p.id] = outcome.devices
                for key in (("user", p.owner_id), ("project", p.project_id)):
                    if key in quotas:
                        quotas[key].take(need)
                order.placed(p)
                plan.assignments[p.id] = outcome.agent.id
                continue
            if outcome.blocks and group.blocker is None:
                group.blocker = p
            position += 1
            plan.waiting[p.id] = outcome.checks
            plan.positions[p.id] = position
    return plan
