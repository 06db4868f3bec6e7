"""Reconciliation decisions: what the manager does about agents' reports and the passage of
time, as pure functions from a snapshot and the time to a list of actions.

No database, clock or process here. The services (``manager/services/agents.py`` for heartbeats
and kernel events, ``manager/services/watchdog.py`` for the periodic repairs) load a snapshot,
call these functions, and apply the returned actions: status changes inside their transaction,
the rest (destroying kernels, dispatching again) after it commits.

Every decision is made per session (:func:`reconcile_session`, :func:`on_event`,
:func:`watch_session`), so the services can isolate a session whose data breaks a decision
from the others; :func:`reconcile` and :func:`watchdog` are the whole-snapshot forms.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from berth.domain.status import (
    ENDED,
    SessionResult,
    SessionStatus,
    SessionType,
    StatusInfo,
    ended_outcome,
)
from berth.rpc import AppPort, EventKind, KernelReport, KernelState

S = SessionStatus
#: Statuses a heartbeat reconciles: the session has (or is getting) a kernel on the agent.
LIVE: frozenset[SessionStatus] = frozenset({S.PREPARING, S.CREATING, S.RUNNING, S.TERMINATING})
#: Statuses the watchdog fails as stuck once they last longer than the transition timeout
#: (TERMINATING is force-destroyed instead).
STARTING: frozenset[SessionStatus] = frozenset({S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING})
#: Every status the watchdog looks at.
WATCHED: frozenset[SessionStatus] = frozenset({S.RUNNING, S.TERMINATING, *STARTING})
_STARTED_STATUSES = (S.PREPARING, S.CREATING)
_EXIT_ENDS = (S.PREPARING, S.CREATING, S.RUNNING)


@dataclass(frozen=True)
class Graces:
    """How long the manager waits before acting (``ManagerSettings`` fields of the same
    names, in seconds there)."""

    #: A kernel its agent does not report yet may still be on its way (a heartbeat gathered
    #: just before the kernel started can arrive after its ``started`` event).
    create_grace: timedelta = timedelta(seconds=30)
    #: A PREPARING session with no dispatch in flight lost it to a restart: send it again.
    resend_after: timedelta = timedelta(seconds=10)
    #: Longest stay in a transitional status.
    transition_timeout: timedelta = timedelta(seconds=600)
    #: Agent silence before it is LOST.
    heartbeat_timeout: timedelta = timedelta(seconds=30)


# --- the snapshot ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    """What the decisions need of one session (read from its row by the service)."""

    id: str
    status: SessionStatus
    type: SessionType
    status_changed_at: datetime
    started_at: datetime | None = None
    timeout_seconds: int | None = None
    #: Work in progress in this manager process (``Manager.inflight``).
    dispatching: bool = False
    destroying: bool = False


@dataclass(frozen=True)
class KernelView:
    id: str
    session_id: str
    #: The kernel's published app ports are already recorded.
    has_app_ports: bool = False


@dataclass(frozen=True)
class AgentView:
    id: str
    alive: bool
    last_heartbeat: datetime


@dataclass(frozen=True)
class HeartbeatSnapshot:
    """One agent's heartbeat next to what the manager knows of that agent's live sessions."""

    agent_id: str
    sessions: tuple[SessionView, ...]
    kernels: tuple[KernelView, ...]
    reports: tuple[KernelReport, ...]
    #: Kernels of sessions the service could not read: neither reconciled nor orphans.
    unreadable_kernels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WatchdogSnapshot:
    sessions: tuple[SessionView, ...]
    agents: tuple[AgentView, ...]


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordKernel:
    """Store what the agent reports of a running kernel (container id, published ports)."""

    session_id: str
    kernel_id: str
    container_id: str | None
    app_ports: tuple[AppPort, ...]


@dataclass(frozen=True)
class MarkRunning:
    """PREPARING/CREATING -> (CREATING ->) RUNNING, reason ``started``."""

    session_id: str


@dataclass(frozen=True)
class RecordExit:
    """Store a kernel's exit code (also while its session is already ending)."""

    session_id: str
    kernel_id: str
    exit_code: int | None


@dataclass(frozen=True)
class EndSession:
    """Begin termination: TERMINATING now, ``final_status``/``final_info`` once the kernels
    are destroyed (a :class:`Destroy` follows). ``exit_code`` is the session's when not None."""

    session_id: str
    info: StatusInfo
    final_status: SessionStatus
    final_info: StatusInfo
    result: SessionResult
    data: Mapping[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass(frozen=True)
class Fail:
    """End the session as ERROR at once: there is nothing left to clean up on its agent."""

    session_id: str
    info: StatusInfo
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Destroy:
    """Destroy a TERMINATING session's kernels and record its end; ``force`` ends it even
    when the agent cannot be reached."""

    session_id: str
    force: bool = False


@dataclass(frozen=True)
class DestroyOrphan:
    """Remove a kernel the agent has but no live session owns (grace 0)."""

    kernel_id: str


@dataclass(frozen=True)
class Redispatch:
    """A SCHEDULED session no process is dispatching: dispatch it."""

    session_id: str


@dataclass(frozen=True)
class Resend:
    """A PREPARING session whose hand-over was lost: send its kernels again (idempotent)."""

    session_id: str


@dataclass(frozen=True)
class MarkAgentLost:
    agent_id: str
    silent_since: datetime


Action = (
    RecordKernel
    | MarkRunning
    | RecordExit
    | EndSession
    | Fail
    | Destroy
    | DestroyOrphan
    | Redispatch
    | Resend
    | MarkAgentLost
)

#: Actions carried out after the transaction commits: they talk to agents or start work.
AFTER_COMMIT = (Destroy, DestroyOrphan, Redispatch, Resend)


# --- heartbeats and events ------------------------------------------------------------------


def _running(session: SessionView, kernel_id: str, report: KernelReport) -> list[Action]:
    record = RecordKernel(session.id, kernel_id, report.container_id, tuple(report.app_ports))
    if session.status in _STARTED_STATUSES:
        return [record, MarkRunning(session.id)]
    return [record]


def _exited(session: SessionView, kernel_id: str, report: KernelReport) -> list[Action]:
    """The kernel's container stopped by itself: end the session with the right reason."""
    actions: list[Action] = [RecordExit(session.id, kernel_id, report.exit_code)]
    if session.status in _EXIT_ENDS:
        final, info, result = ended_outcome(session.type, report.exit_code, report.oom_killed)
        data = {"exit_code": report.exit_code, "oom_killed": report.oom_killed}
        actions.append(EndSession(session.id, info, final, info, result, data, report.exit_code))
        actions.append(Destroy(session.id))
    elif session.status is S.TERMINATING:
        actions.append(Destroy(session.id))
    return actions


def _missing(session: SessionView, agent_id: str, now: datetime, graces: Graces) -> list[Action]:
    if now - session.status_changed_at <= graces.create_grace:
        return []
    if session.status is S.PREPARING and session.dispatching:
        return []  # still queued to be handed over (a burst): the grace starts at CREATING
    where = f"agent {agent_id}"
    if session.status is S.RUNNING:
        error = "the agent has no container for this kernel any more"
        return [Fail(session.id, StatusInfo.KERNEL_LOST, {"error": error, "where": where})]
    if session.status in _STARTED_STATUSES:
        error = "the agent has no record of this kernel"
        return [Fail(session.id, StatusInfo.FAILED_TO_START, {"error": error, "where": where})]
    return []  # TERMINATING: the watchdog's destroy finishes it


def reconcile_session(
    session: SessionView,
    kernels: Sequence[KernelView],
    reports: Mapping[str, KernelReport],
    agent_id: str,
    now: datetime,
    graces: Graces,
) -> list[Action]:
    """Compare one live session's kernels on ``agent_id`` with the agent's ``reports`` (by
    kernel id). Applying the result twice changes nothing more than applying it once.

    A kernel reported running while the session is PREPARING/CREATING makes it RUNNING (a lost
    ``started`` event); reported exited ends the session like an ``exited`` event; not
    reported for longer than ``create_grace`` fails it (``kernel-lost`` when RUNNING,
    ``failed-to-start`` before). Decisions stop at the first kernel that ends the session.
    """
    actions: list[Action] = []
    for kernel in kernels:
        report = reports.get(kernel.id)
        if report is None:
            step = _missing(session, agent_id, now, graces)
        elif report.state is KernelState.RUNNING:
            if session.status is S.RUNNING and kernel.has_app_ports:
                step = []
            else:
                step = _running(session, kernel.id, report)
        elif report.state is KernelState.EXITED:
            step = _exited(session, kernel.id, report)
        else:
            step = []  # still being created on the agent
        actions += step
        if any(isinstance(a, EndSession | Fail) for a in step):
            break
        if any(isinstance(a, MarkRunning) for a in step):
            session = replace(session, status=S.RUNNING)
    return actions


def orphans(
    reports: Iterable[KernelReport], known: Collection[str], unreadable: Collection[str] = ()
) -> list[Action]:
    """Kernels the agent reports that no live session of it owns (and that are not still
    being created): destroy them. Kernels of sessions that could not be read are left alone,
    so a failure to read a row never destroys a user's container."""
    return [
        DestroyOrphan(r.kernel_id)
        for r in reports
        if r.kernel_id not in known
        and r.kernel_id not in unreadable
        and r.state is not KernelState.CREATING
    ]


def reconcile(snapshot: HeartbeatSnapshot, now: datetime, graces: Graces) -> list[Action]:
    """Every action for one heartbeat: :func:`reconcile_session` for each live session, then
    :func:`orphans`."""
    reports = {r.kernel_id: r for r in snapshot.reports}
    actions: list[Action] = []
    for session in snapshot.sessions:
        kernels = [k for k in snapshot.kernels if k.session_id == session.id]
        actions += reconcile_session(session, kernels, reports, snapshot.agent_id, now, graces)
    known = {k.id for k in snapshot.kernels}
    return actions + orphans(snapshot.reports, known, snapshot.unreadable_kernels)


def on_event(
    kind: EventKind,
    session: SessionView,
    kernel_id: str,
    report: KernelReport,
    agent_id: str,
    error: str | None = None,
) -> list[Action]:
    """What one kernel event from ``agent_id`` does to the kernel's session. A repeated or
    late event gives no status change (the guards are the session's status).

    ``started`` of a session that already ended removes the kernel (it was created too late).
    """
    if kind is EventKind.STARTED:
        if session.status in ENDED:
            return [DestroyOrphan(kernel_id)]
        return _running(session, kernel_id, report)
    if kind is EventKind.CREATE_FAILED:
        if session.status in (S.SCHEDULED, *_STARTED_STATUSES):
            data = {"error": error or "unknown error", "where": f"agent {agent_id}"}
            return [Fail(session.id, StatusInfo.FAILED_TO_START, data)]
        return []
    return _exited(session, kernel_id, report)


# --- the watchdog ---------------------------------------------------------------------------


def _timed_out(session: SessionView, now: datetime) -> bool:
    if session.type is not SessionType.BATCH or not session.timeout_seconds:
        return False
    if session.started_at is None:
        return False
    return now - session.started_at >= timedelta(seconds=session.timeout_seconds)


def watch_session(session: SessionView, now: datetime, graces: Graces) -> list[Action]:
    """The watchdog's decision for one session:

    - RUNNING batch past ``timeout_seconds`` (from ``started_at``) -> ``task-timeout``;
    - TERMINATING longer than the transition timeout -> force destroy, else destroy again
      unless a destroy is in flight (resumes work a restart cut off);
    - SCHEDULED/PREPARING/PULLING/CREATING longer than the transition timeout -> ERROR
      ``stuck-in-transition`` (through TERMINATING, so its kernel is destroyed);
    - SCHEDULED with no dispatch in flight -> dispatch again; PREPARING for longer than
      ``resend_after`` with none in flight -> send again.
    """
    stuck = now - session.status_changed_at > graces.transition_timeout
    if session.status is S.RUNNING:
        if not _timed_out(session, now):
            return []
        data: dict[str, Any] = {"timeout_seconds": session.timeout_seconds}
        info = StatusInfo.TASK_TIMEOUT
        end = EndSession(session.id, info, S.TERMINATED, info, SessionResult.FAILURE, data)
        return [end, Destroy(session.id)]
    if session.status is S.TERMINATING:
        if stuck:
            return [Destroy(session.id, force=True)]
        return [] if session.destroying else [Destroy(session.id)]
    if session.status not in STARTING:
        return []
    if stuck:
        seconds = graces.transition_timeout.total_seconds()
        data = {
            "error": f"no progress in {session.status} for {seconds:.0f} s",
            "where": str(session.status),
        }
        info = StatusInfo.STUCK_TIMEOUT
        end = EndSession(session.id, info, S.ERROR, info, SessionResult.FAILURE, data)
        return [end, Destroy(session.id)]
    if session.dispatching:
        return []
    if session.status is S.SCHEDULED:
        return [Redispatch(session.id)]
    if session.status is S.PREPARING and now - session.status_changed_at > graces.resend_after:
        return [Resend(session.id)]
    return []


def watch_agents(agents: Iterable[AgentView], now: datetime, graces: Graces) -> list[MarkAgentLost]:
    """ALIVE agents silent for longer than ``heartbeat_timeout`` become LOST."""
    return [
        MarkAgentLost(a.id, a.last_heartbeat)
        for a in agents
        if a.alive and now - a.last_heartbeat > graces.heartbeat_timeout
    ]


def watchdog(snapshot: WatchdogSnapshot, now: datetime, graces: Graces) -> list[Action]:
    """Every action of one watchdog pass: :func:`watch_session` for each session, then
    :func:`watch_agents`."""
    actions: list[Action] = []
    for session in snapshot.sessions:
        actions += watch_session(session, now, graces)
    return actions + watch_agents(snapshot.agents, now, graces)
