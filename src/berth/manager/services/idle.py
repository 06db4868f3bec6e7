"""The idle checks in the manager (docs/idle-checks.md): load, decide, apply.

Every ``idle_check_interval`` seconds a *full pass* loads the RUNNING sessions whose resource
group or resource policy turns some check on (one query), builds each one's
:class:`~berth.domain.idle.SessionFacts` (start, the later of the stored and the in-memory
last traffic, the requested resources, the main kernel's usage samples from ``m.live``) and
calls the pure :func:`berth.domain.idle.evaluate`. Between full passes the loop wakes at the
next deadline (or warning time) it saw and evaluates only the sessions due then, so a session
is reclaimed moments after its deadline while the work stays proportional to the sessions
with checks. Everything is computed from stored timestamps and ``now``: a restarted manager
continues every countdown where it was; the warnings sent are stored (``sessions.idle_warned``)
so that it does not repeat them either.

Applying: a verdict terminates the session through :func:`.termination.begin_termination`
with ``status_info`` naming the check and ``status_data`` the figures that decided it (after
re-reading its row and its traffic: a session used meanwhile is spared); a due warning
publishes :class:`~berth.manager.events.IdleWarningEvent` once per check and deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import idle
from berth.domain.status import SessionStatus, SessionType, StatusInfo
from berth.manager.context import Manager
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import (
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    ResourcePolicyRow,
    SessionRow,
    UserRow,
    utcnow,
)
from berth.manager.events import Event, IdleWarningEvent
from berth.manager.schemas_usage import IdleOut
from berth.manager.services import activity
from berth.manager.services.idle_view import report_out
from berth.manager.services.live_usage import requested_resources
from berth.manager.services.termination import begin_termination, destroy_session

log = logging.getLogger(__name__)
#: Stored setting (column) -> :class:`berth.domain.idle.IdleSettings` field.
FIELDS = {"max_session_lifetime": "max_lifetime", "idle_timeout": "idle_timeout",
          "utilization_window": "utilization_window", "grace_period": "grace_period",
          "utilization_thresholds": "thresholds", "utilization_combine": "combine",
          "warn_before": "warn_before"}
#: Woken for a deadline, the loop evaluates this long after it (clock granularity).
WAKE_SLACK = timedelta(milliseconds=50)
#: Sessions per ``IN (...)`` list.
CHUNK = 500
CHECK_TEXT = {
    idle.IdleCheck.SESSION_LIFETIME: "it reaches its maximum lifetime",
    idle.IdleCheck.NETWORK_TIMEOUT: "it has had no traffic for its idle timeout",
    idle.IdleCheck.UTILIZATION: "its utilization stays below the idle thresholds",
}


# ---- settings ---------------------------------------------------------------------------------
def settings_of(values: Mapping[str, Any]) -> idle.IdleSettings:
    """A group's or policy's stored settings (column -> value). A stored value the domain
    refuses (a hand edit) is left out, as if not set, rather than stopping every check."""
    kwargs: dict[str, Any] = {}
    for column, name in FIELDS.items():
        value = values.get(column)
        if value is None:
            continue
        try:
            idle.IdleSettings(**{name: value})
        except (TypeError, ValueError) as e:
            log.warning("idle setting %s=%r ignored: %s", column, value, e)
            continue
        kwargs[name] = value
    return idle.IdleSettings(**kwargs)


def merge(first: idle.IdleSettings | None, second: idle.IdleSettings | None
          ) -> idle.IdleSettings | None:
    """Field by field, ``first``'s setting unless it is None, then ``second``'s."""
    if first is None or second is None:
        return first or second
    return idle.IdleSettings(**{name: getattr(first, name) if getattr(first, name) is not None
                                else getattr(second, name) for name in FIELDS.values()})


def _may_enable(s: idle.IdleSettings) -> bool:
    return bool(s.max_lifetime or s.idle_timeout or s.thresholds)


@dataclass
class Config:
    """Every group's and policy's idle settings (two small tables, read once per pass)."""

    groups: dict[str, idle.IdleSettings]
    policies: dict[str, idle.IdleSettings]
    _resolved: dict[tuple[str, str | None, str | None], idle.IdlePolicy] = field(
        default_factory=dict)

    def policy(self, group: str, user_policy: str | None, project_policy: str | None
               ) -> idle.IdlePolicy:
        """The checks of a session: its owner's policy's settings, then its project's
        policy's, then its group's (see :func:`berth.domain.idle.resolve`)."""
        key = (group, user_policy, project_policy)
        if key not in self._resolved:
            override = merge(self.policies.get(user_policy or ""),
                             self.policies.get(project_policy or ""))
            self._resolved[key] = idle.resolve(self.groups.get(group, idle.IdleSettings()),
                                               override)
        return self._resolved[key]

    def scope(self) -> tuple[list[str], list[str]]:
        """The groups and the policies that may turn some check on."""
        return ([g for g, s in self.groups.items() if _may_enable(s)],
                [p for p, s in self.policies.items() if _may_enable(s)])


async def load_config(db: AsyncSession) -> Config:
    columns = list(FIELDS)
    groups = (await db.execute(select(ResourceGroupRow.name, *(
        getattr(ResourceGroupRow, c) for c in columns)))).all()
    policies = (await db.execute(select(ResourcePolicyRow.name, *(
        getattr(ResourcePolicyRow, c) for c in columns)))).all()
    return Config({r[0]: settings_of(dict(zip(columns, r[1:], strict=True))) for r in groups},
                  {r[0]: settings_of(dict(zip(columns, r[1:], strict=True))) for r in policies})


def has_any_check(p: idle.IdlePolicy) -> bool:
    return bool(p.max_lifetime or p.network_timeout or p.utilization)


# ---- loading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loaded:
    """A RUNNING session as the checks read it."""

    id: str
    name: str
    owner_id: str
    creator_id: str
    type: SessionType
    started_at: datetime
    last_activity_at: datetime | None
    requested_slots: Mapping[str, Any]
    warned: Mapping[str, str]
    policy: idle.IdlePolicy
    main_kernel: str | None = None


_COLUMNS = (SessionRow.id, SessionRow.name, SessionRow.owner_id, SessionRow.creator_id,
            SessionRow.type, SessionRow.started_at, SessionRow.last_activity_at,
            SessionRow.requested_slots, SessionRow.idle_warned, SessionRow.resource_group,
            UserRow.resource_policy, ProjectRow.resource_policy)


async def load_sessions(db: AsyncSession, config: Config, ids: Sequence[str] | None = None
                        ) -> list[Loaded]:
    """The RUNNING sessions (of ``ids``, or all) that have some check on, with their main
    kernel. One query for the sessions (none when no group or policy has a check) and one
    per :data:`CHUNK` for their main kernels."""
    query = (select(*_COLUMNS).join(UserRow, UserRow.id == SessionRow.owner_id)
             .join(ProjectRow, ProjectRow.id == SessionRow.project_id)
             .where(SessionRow.status == SessionStatus.RUNNING))
    if ids is not None:
        query = query.where(SessionRow.id.in_(ids))
    else:
        groups, policies = config.scope()
        if not groups and not policies:
            return []
        query = query.where(or_(SessionRow.resource_group.in_(groups),
                                UserRow.resource_policy.in_(policies),
                                ProjectRow.resource_policy.in_(policies)))
    found = []
    for (sid, name, owner, creator, type_, started, last, slots, warned, group, upol,
         ppol) in (await db.execute(query)).all():
        policy = config.policy(group, upol, ppol)
        if started is None or not has_any_check(policy):
            continue
        found.append(Loaded(sid, name, owner, creator, SessionType(type_), started, last,
                            slots or {}, warned or {}, policy))
    mains: dict[str, str] = {}
    for i in range(0, len(found), CHUNK):
        chunk = [s.id for s in found[i:i + CHUNK]]
        mains.update((await db.execute(select(KernelRow.session_id, KernelRow.id).where(
            KernelRow.session_id.in_(chunk), KernelRow.role == "main"))).all())
    return [replace(s, main_kernel=mains.get(s.id)) for s in found]


def _cores(slots: Mapping[str, Any]) -> float:
    try:
        return float(Decimal(str(slots.get("cpu", 1))))
    except (InvalidOperation, ValueError):
        return 1.0


def facts_of(m: Manager, s: Loaded, now: datetime) -> idle.SessionFacts:
    """The facts of one session: stored values, the in-memory traffic and the main kernel's
    usage samples (those the window at ``now`` can read)."""
    times = [t for t in (s.last_activity_at, m.activity.last(s.id)) if t is not None]
    samples: list[idle.Sample] = []
    interval = idle.DEFAULT_SAMPLE_INTERVAL
    rule = s.policy.utilization
    if rule is not None and s.main_kernel is not None:
        reach = rule.window + idle.GAP_FACTOR * max(m.live.interval, m.live.bucket)
        samples, interval = m.live.idle_samples(s.main_kernel, _cores(s.requested_slots),
                                                since=now - timedelta(seconds=reach))
    return idle.SessionFacts(type=s.type, started_at=s.started_at,
                             last_activity_at=max(times) if times else None,
                             requested=requested_resources(s.requested_slots),
                             samples=samples, sample_interval=interval)


# ---- deciding (pure) --------------------------------------------------------------------------
@dataclass
class Decision:
    """What one pass does: sessions to reclaim, warnings to send, and when each evaluated
    session is due again (its next deadline or warning time, if before the next full pass)."""

    reclaim: list[tuple[Loaded, idle.SessionFacts, idle.Reclaim]] = field(default_factory=list)
    warn: list[tuple[Loaded, idle.CheckState]] = field(default_factory=list)
    due: dict[str, datetime] = field(default_factory=dict)


def warn_due(warned: Mapping[str, str], state: idle.CheckState, warn_before: int) -> bool:
    """Whether to send ``state``'s warning: not sent yet for this check, or sent for a
    deadline more than ``warn_before`` earlier (the session was used since, and its new
    deadline nears). A utilization deadline that drifts by seconds is not a new one."""
    if not state.warn or state.deadline is None:
        return False
    sent = warned.get(str(state.check))
    if sent is None:
        return True
    try:
        before = datetime.fromisoformat(sent)
    except (TypeError, ValueError):
        return True
    return state.deadline > before + timedelta(seconds=warn_before)


def next_due(report: idle.IdleReport, warn_before: int, now: datetime) -> datetime | None:
    """The earliest future deadline or warning time of the report's checks."""
    times = []
    for c in report.checks:
        if c.deadline is None or c.remaining is None or c.remaining <= 0:
            continue
        times.append(c.deadline)
        if warn_before and c.deadline - timedelta(seconds=warn_before) > now:
            times.append(c.deadline - timedelta(seconds=warn_before))
    return min(times) + WAKE_SLACK if times else None


def decide(evaluated: Iterable[tuple[Loaded, idle.SessionFacts, idle.IdleReport]],
           now: datetime) -> Decision:
    d = Decision()
    for s, facts, report in evaluated:
        if report.verdict is not None:
            d.reclaim.append((s, facts, report.verdict))
            continue
        d.warn += [(s, c) for c in report.warnings
                   if warn_due(s.warned, c, s.policy.warn_before)]
        if (at := next_due(report, s.policy.warn_before, now)) is not None:
            d.due[s.id] = at
    return d


# ---- applying ---------------------------------------------------------------------------------
async def _reclaim_one(m: Manager, db: AsyncSession, s: Loaded, facts: idle.SessionFacts
                       ) -> Event | None:
    """Terminate one session if, read again (its row locked, its latest traffic), a check
    still reclaims it."""
    row = await db.get(SessionRow, s.id, with_for_update=True, populate_existing=True)
    if row is None or row.status is not SessionStatus.RUNNING:
        return None
    times = [t for t in (row.last_activity_at, m.activity.last(s.id), facts.last_activity_at)
             if t is not None]
    facts = replace(facts, last_activity_at=max(times) if times else None)
    verdict = idle.evaluate(s.policy, facts, utcnow()).verdict
    if verdict is None:
        return None
    data = {**verdict.data, "check": str(verdict.check)}
    log.info("idle check %s reclaims session %s", verdict.check, s.id)
    return begin_termination(db, row, StatusInfo(verdict.status_info), data=data)


async def apply_reclaims(m: Manager, reclaim: Sequence[tuple[Loaded, idle.SessionFacts,
                                                               idle.Reclaim]]) -> None:
    """Terminate the sessions (each in a savepoint of its own), then destroy their kernels
    in the background."""
    events: list[Event] = []
    ended: list[str] = []
    async with transaction(m.db) as db:
        for s, facts, _ in reclaim:
            try:
                async with db.begin_nested():
                    if (event := await _reclaim_one(m, db, s, facts)) is not None:
                        events.append(event)
                        ended.append(s.id)
            except Exception:
                log.exception("reclaiming session %s failed", s.id)
    await m.publish(events)
    for session_id in ended:
        m.spawn(destroy_session(m, session_id))
    m.activity.forget(ended)
    if ended:
        m.wake.set()


def warning_event(s: Loaded, state: idle.CheckState, now: datetime) -> IdleWarningEvent:
    assert state.deadline is not None and state.remaining is not None
    return IdleWarningEvent(
        session_id=s.id, name=s.name, owner_id=s.owner_id, creator_id=s.creator_id,
        check=str(state.check),
        status_info=idle.STATUS_INFO[state.check], deadline=state.deadline,
        remaining=state.remaining, at=now,
        message=(f"Session {s.name} will be terminated in "
                 f"{idle.format_remaining(state.remaining)}: {CHECK_TEXT[state.check]} "
                 f"({state.check})."))


async def apply_warnings(m: Manager, warn: Sequence[tuple[Loaded, idle.CheckState]],
                         now: datetime) -> None:
    """Remember the warnings on their sessions (still RUNNING), then publish them."""
    by_session: dict[str, list[idle.CheckState]] = {}
    loaded = {s.id: s for s, _ in warn}
    for s, state in warn:
        by_session.setdefault(s.id, []).append(state)
    sent: list[Event] = []
    async with transaction(m.db) as db:
        for session_id, states in by_session.items():
            row = await db.get(SessionRow, session_id, with_for_update=True)
            if row is None or row.status is not SessionStatus.RUNNING:
                continue
            warned = dict(row.idle_warned or {})
            for state in states:
                assert state.deadline is not None
                warned[str(state.check)] = state.deadline.isoformat()
                sent.append(warning_event(loaded[session_id], state, now))
            row.idle_warned = warned
    await m.publish(sent)


# ---- the loop ---------------------------------------------------------------------------------
async def idle_once(m: Manager, ids: Sequence[str] | None = None) -> Decision:
    """One pass over the sessions with checks (or those of ``ids``): evaluate, reclaim,
    warn. Returns what it decided (its ``due`` says when to look at whom again)."""
    async with reading(m.db) as db:
        config = await load_config(db)
        sessions = await load_sessions(db, config, ids)
    now = utcnow()
    evaluated = []
    for s in sessions:
        try:
            facts = facts_of(m, s, now)
            evaluated.append((s, facts, idle.evaluate(s.policy, facts, now)))
        except Exception:  # one session's odd data must not stop the others' checks
            log.exception("idle check of session %s failed", s.id)
    decision = decide(evaluated, now)
    if decision.reclaim:
        await apply_reclaims(m, decision.reclaim)
    if decision.warn:
        await apply_warnings(m, decision.warn, now)
    return decision


@dataclass
class LoopState:
    """When the next full pass and the next flush are, and the sessions due before."""

    next_full: datetime
    next_flush: datetime
    due: dict[str, datetime] = field(default_factory=dict)

    def wait(self, now: datetime) -> float:
        soonest = min([self.next_full, self.next_flush, *self.due.values()])
        return max(0.0, (soonest - now).total_seconds())


async def loop_step(m: Manager, state: LoopState) -> None:
    """Flush traffic if due; run a full pass if due, else a pass over the sessions due."""
    interval = m.settings.idle_check_interval
    now = utcnow()
    if now >= state.next_flush:
        state.next_flush = now + timedelta(seconds=min(activity.FLUSH_INTERVAL, interval))
        await activity.flush(m)
    if now >= state.next_full:
        state.next_full = now + timedelta(seconds=interval)
        state.due = (await idle_once(m)).due
        return
    ready = [sid for sid, at in state.due.items() if at <= now]
    if ready:
        for sid in ready:
            del state.due[sid]
        state.due.update((await idle_once(m, ready)).due)


async def idle_loop(m: Manager) -> None:
    """The idle checks' background loop (see the module's docstring). A failed step is
    logged and retried at the next interval; the traffic is flushed once more when the loop
    is cancelled (a graceful stop loses none)."""
    now = utcnow()
    state = LoopState(next_full=now, next_flush=now)
    try:
        while True:
            try:
                await loop_step(m, state)
            except Exception:
                log.exception("idle check pass failed")
                retry = utcnow() + timedelta(seconds=m.settings.idle_check_interval)
                state.next_full = min(state.next_full, retry)
                state.due.clear()
            await asyncio.sleep(state.wait(utcnow()))
    finally:
        try:
            await activity.flush(m)
        except Exception:
            log.exception("flushing session traffic failed")


# ---- the API ----------------------------------------------------------------------------------
async def session_idle(m: Manager, session_id: str) -> IdleOut | None:
    """The idle checks of a RUNNING session as the loop sees them now (None: not RUNNING).
    Sessions without any check get every check listed as off."""
    async with reading(m.db) as db:
        config = await load_config(db)
        row = (await db.execute(select(*_COLUMNS).join(
            UserRow, UserRow.id == SessionRow.owner_id).join(
            ProjectRow, ProjectRow.id == SessionRow.project_id).where(
            SessionRow.id == session_id, SessionRow.status == SessionStatus.RUNNING))).first()
        if row is None or row.started_at is None:
            return None
        found = await load_sessions(db, config, [session_id])
    s = found[0] if found else None
    if s is None:  # no check on: show them off
        policy = config.policy(row.resource_group, row[10], row[11])
        s = Loaded(row.id, row.name, row.owner_id, row.creator_id, SessionType(row.type),
                   row.started_at, row.last_activity_at, row.requested_slots or {}, {}, policy)
    now = utcnow()
    return report_out(s.policy, idle.evaluate(s.policy, facts_of(m, s, now), now), now)
