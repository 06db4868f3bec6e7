"""Session and kernel statuses, and the one table that says which changes are allowed.

Every status change in Berth goes through :func:`check_transition`; the services store the
reason (``status_info``) and structured data (``status_data``) of each change with a timestamp.
There are no boolean "pending"/"running" flags anywhere: the status is the state.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    PREPARING = "PREPARING"
    PULLING = "PULLING"
    CREATING = "CREATING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"


S = SessionStatus

#: status -> statuses it may change to. Force-terminate is part of the table, not a bypass:
#: PENDING is CANCELLED, every later non-ended status goes to TERMINATING (then TERMINATED
#: or ERROR once the kernels are gone).
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.PENDING: frozenset({S.SCHEDULED, S.CANCELLED, S.ERROR}),
    S.SCHEDULED: frozenset({S.PREPARING, S.PENDING, S.CANCELLED, S.TERMINATING, S.ERROR}),
    S.PREPARING: frozenset({S.PULLING, S.CREATING, S.PENDING, S.TERMINATING, S.ERROR, S.CANCELLED}),
    S.PULLING: frozenset({S.CREATING, S.TERMINATING, S.ERROR, S.CANCELLED}),
    S.CREATING: frozenset({S.RUNNING, S.TERMINATING, S.ERROR}),
    S.RUNNING: frozenset({S.TERMINATING, S.ERROR}),
    S.TERMINATING: frozenset({S.TERMINATED, S.ERROR}),
    S.TERMINATED: frozenset(),
    S.CANCELLED: frozenset(),
    S.ERROR: frozenset(),
}

ENDED: frozenset[SessionStatus] = frozenset({S.TERMINATED, S.CANCELLED, S.ERROR})
#: Statuses in which a session holds (or is about to hold) resources on an agent.
OCCUPYING: frozenset[SessionStatus] = frozenset(
    {S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING, S.RUNNING, S.TERMINATING}
)
#: Statuses a session should pass through quickly; the watchdog fails them past a deadline.
TRANSITIONAL: frozenset[SessionStatus] = frozenset(
    {S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING, S.TERMINATING}
)


class InvalidTransition(ValueError):
    """A status change that the transition table does not allow."""

    def __init__(self, current: SessionStatus, new: SessionStatus) -> None:
        super().__init__(f"a session cannot go from {current} to {new}")
        self.current = current
        self.new = new


def can_transition(current: SessionStatus, new: SessionStatus) -> bool:
    """True when the table allows ``current -> new``. Staying in place is never a change."""
    return new in TRANSITIONS[current]


def check_transition(current: SessionStatus, new: SessionStatus) -> None:
    """Raise :class:`InvalidTransition` unless the table allows ``current -> new``."""
    if not can_transition(current, new):
        raise InvalidTransition(current, new)


class StatusInfo(StrEnum):
    """Short, stable reasons stored with each status change (``status_info``)."""

    CREATED = "created"
    NO_AVAILABLE_RESOURCES = "no-available-resources"
    WAITING_FOR_START_TIME = "waiting-for-start-time"
    SCHEDULED = "scheduled"
    PREPARING = "preparing"
    CREATING = "creating"
    STARTED = "started"
    USER_REQUESTED = "user-requested"
    FORCE_TERMINATED = "force-terminated"
    TASK_FINISHED = "task-finished"
    TASK_FAILED = "task-failed"
    TASK_TIMEOUT = "task-timeout"
    FAILED_TO_START = "failed-to-start"
    SELF_TERMINATED = "self-terminated"
    KERNEL_DIED = "kernel-died"
    KERNEL_LOST = "kernel-lost"
    AGENT_LOST = "agent-lost"
    AGENT_UNREACHABLE = "agent-unreachable"
    STUCK_TIMEOUT = "stuck-in-transition"
    IDLE_TIMEOUT = "idle-timeout"
    IDLE_SESSION_LIFETIME = "idle-session-lifetime"
    IDLE_UTILIZATION = "idle-utilization"
    #: Waited in the queue longer than its resource group's ``pending_timeout``.
    PENDING_TIMEOUT = "pending-timeout"
    #: A background loop could not handle the session (its row cannot be read or its step
    #: raised); ``status_data`` has ``error`` and ``where`` (scheduler, watchdog, ...).
    INTERNAL_ERROR = "internal-error"


class SessionResult(StrEnum):
    """Outcome of a session; meaningful for batch sessions."""

    UNDEFINED = "UNDEFINED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class SessionType(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


class AgentStatus(StrEnum):
    """An agent as the manager sees it: ALIVE while its heartbeats arrive, LOST after
    ``heartbeat_timeout`` seconds of silence (its sessions wait; a new heartbeat revives it)."""

    ALIVE = "ALIVE"
    LOST = "LOST"


def ended_outcome(
    session_type: SessionType, exit_code: int | None, oom_killed: bool = False
) -> tuple[SessionStatus, StatusInfo, SessionResult]:
    """Decide how a session ends when its main kernel's container exited on its own.

    Batch: exit 0 is success, anything else a failure with the code. Interactive sessions
    never end by themselves, so an exit means the kernel died (or the user exited it cleanly).
    """
    if session_type is SessionType.BATCH:
        if exit_code == 0 and not oom_killed:
            return S.TERMINATED, StatusInfo.TASK_FINISHED, SessionResult.SUCCESS
        return S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE
    if exit_code == 0 and not oom_killed:
        return S.TERMINATED, StatusInfo.SELF_TERMINATED, SessionResult.UNDEFINED
    return S.ERROR, StatusInfo.KERNEL_DIED, SessionResult.FAILURE


def transition_table_markdown() -> str:
    """The transition table as the Markdown table docs/architecture.md shows (a test keeps
    the two equal)."""
    names = list(SessionStatus)
    lines = [
        "| from \\ to | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
    ]
    for src in names:
        marks = ["✓" if dst in TRANSITIONS[src] else "" for dst in names]
        lines.append(f"| **{src}** | " + " | ".join(marks) + " |")
    return "\n".join(lines)
