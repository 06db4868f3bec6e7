"""The scheduler: a pure function from a snapshot of the cluster to a Plan.

No database, clock or randomness inside: the dispatcher reads a :class:`Snapshot`, calls
:func:`schedule`, and applies the returned :class:`Plan` in one transaction, rejecting it when
the state it was made from has changed (stale plan).

Policy: first-come first-served over pending sessions ordered by creation time, with
backfilling (a later session that fits may start while an earlier, larger one keeps waiting).
Among agents that fit, the one with the most free memory is chosen (spreading load). Every
session left pending gets the list of checks that failed or passed, with messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from berth.domain import slots as sl
from berth.domain.rules import format_size


@dataclass(frozen=True)
class AgentState:
    id: str
    resource_group: str
    capacity: sl.Slots
    occupied: sl.Slots
    schedulable: bool = True

    @property
    def free(self) -> sl.Slots:
        return sl.free(self.capacity, self.occupied)


@dataclass(frozen=True)
class PendingSession:
    id: str
    created_at: datetime
    requested: sl.Slots
    resource_group: str = "default"
    starts_at: datetime | None = None
    agent_id: str | None = None  # a user may pin the session to one agent


@dataclass(frozen=True)
class Snapshot:
    agents: tuple[AgentState, ...]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str


@dataclass
class Plan:
    """Assignments to make and, for every session left pending, why it waits."""

    assignments: dict[str, str] = field(default_factory=dict)  # session id -> agent id
    waiting: dict[str, list[Check]] = field(default_factory=dict)


def _describe(missing: dict[str, Decimal]) -> str:
    parts = []
    for key, amount in sorted(missing.items()):
        parts.append(f"{key} {format_size(int(amount))}" if key == "mem" else f"{key} {amount}")
    return "short of " + ", ".join(parts)


def _candidate_checks(
    pending: PendingSession, agents: list[AgentState]
) -> tuple[AgentState | None, list[Check]]:
    checks: list[Check] = []
    group = [a for a in agents if a.resource_group == pending.resource_group and a.schedulable]
    if pending.agent_id is not None:
        group = [a for a in group if a.id == pending.agent_id]
    if not group:
        where = f"agent {pending.agent_id}" if pending.agent_id else "resource group"
        checks.append(Check("agent-available", False, f"no alive agent in the {where}"))
        return None, checks
    checks.append(Check("agent-available", True, f"{len(group)} agent(s) alive"))
    fitting = [a for a in group if sl.fits(pending.requested, a.free)]
    if not fitting:
        best = min(
            group, key=lambda a: (sum(sl.shortfall(pending.requested, a.free).values()), a.id)
        )
        msg = f"no agent has enough free resources ({best.id}: "
        msg += _describe(sl.shortfall(pending.requested, best.free)) + ")"
        checks.append(Check("agent-resources", False, msg))
        return None, checks
    chosen = max(fitting, key=lambda a: (a.free.get("mem", Decimal(0)), a.id))
    checks.append(Check("agent-resources", True, f"fits on {chosen.id}"))
    return chosen, checks


def schedule(snapshot: Snapshot, pending: list[PendingSession], now: datetime) -> Plan:
    """Decide which pending sessions start now and on which agent.

    Pure and deterministic: the same inputs give the same Plan. ``pending`` may be in any
    order. Resources assigned earlier in the same call are taken into account.
    """
    plan = Plan()
    agents = {a.id: a for a in snapshot.agents}
    for session in sorted(pending, key=lambda p: (p.created_at, p.id)):
        if session.starts_at is not None and session.starts_at > now:
            at = session.starts_at.isoformat(timespec="seconds")
            plan.waiting[session.id] = [Check("start-time", False, f"will not start before {at}")]
            continue
        chosen, checks = _candidate_checks(session, list(agents.values()))
        if chosen is None:
            plan.waiting[session.id] = checks
            continue
        plan.assignments[session.id] = chosen.id
        agents[chosen.id] = AgentState(
            id=chosen.id,
            resource_group=chosen.resource_group,
            capacity=chosen.capacity,
            occupied=sl.add(chosen.occupied, session.requested),
            schedulable=chosen.schedulable,
        )
    return plan
