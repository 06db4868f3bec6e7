"""Applying the reconciliation's actions (:mod:`berth.domain.reconcile`): status changes to
rows inside the caller's transaction, the rest (destroying, dispatching) after it commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.reconcile import (
    AFTER_COMMIT,
    Action,
    Destroy,
    DestroyOrphan,
    EndSession,
    Fail,
    KernelView,
    MarkRunning,
    RecordExit,
    RecordKernel,
    Redispatch,
    Resend,
    SessionView,
)
from berth.domain.status import SessionStatus, SessionType, StatusInfo
from berth.manager.context import Manager, change_status
from berth.manager.db.tables import KernelRow, SessionRow
from berth.manager.events import Event
from berth.manager.services.handover import dispatch_session, queue_send
from berth.manager.services.termination import (
    begin_termination,
    destroy_session,
    fail_immediately,
)

log = logging.getLogger(__name__)
S = SessionStatus


def session_view(row: SessionRow, inflight: Iterable[str] = ()) -> SessionView:
    """The decisions' view of a session row. Raises when the row holds values the decisions
    cannot use (the caller records that on the session)."""
    keys = set(inflight)
    return SessionView(
        id=row.id,
        status=S(row.status),
        type=SessionType(row.type),
        status_changed_at=row.status_changed_at,
        started_at=row.started_at,
        timeout_seconds=None if row.timeout_seconds is None else int(row.timeout_seconds),
        dispatching=f"dispatch:{row.id}" in keys,
        destroying=f"destroy:{row.id}" in keys,
    )


def kernel_views(row: SessionRow, agent_id: str) -> list[KernelView]:
    """The session's kernels placed on ``agent_id``."""
    return [
        KernelView(id=k.id, session_id=row.id, has_app_ports=bool(k.app_ports))
        for k in row.kernels
        if k.agent_id == agent_id
    ]


@dataclass
class Applied:
    """What applying a session's actions left to do once the transaction commits."""

    events: list[Event] = field(default_factory=list)
    later: list[Action] = field(default_factory=list)


def _kernel(row: SessionRow, kernel_id: str) -> KernelRow:
    return next(k for k in row.kernels if k.id == kernel_id)


def apply_to_session(db: AsyncSession, row: SessionRow, actions: Sequence[Action]) -> Applied:
    """Apply one session's actions to its (locked) row. Raises InvalidTransition when an
    action no longer fits the row's status (the caller's savepoint rolls it back)."""
    out = Applied()
    for action in actions:
        if isinstance(action, AFTER_COMMIT):
            out.later.append(action)
        elif isinstance(action, RecordKernel):
            kernel = _kernel(row, action.kernel_id)
            kernel.container_id = action.container_id
            kernel.app_ports = [a.model_dump() for a in action.app_ports]
        elif isinstance(action, MarkRunning):
            if any(k.container_id is None for k in row.kernels):
                continue  # a cluster runs once every kernel has started
            if row.status is S.PREPARING:
                out.events.append(change_status(db, row, S.CREATING, StatusInfo.CREATING))
            if row.status is S.CREATING:
                out.events.append(change_status(db, row, S.RUNNING, StatusInfo.STARTED))
        elif isinstance(action, RecordExit):
            _kernel(row, action.kernel_id).exit_code = action.exit_code
        elif isinstance(action, EndSession):
            row.result = action.result
            if action.exit_code is not None:
                row.exit_code = action.exit_code
            out.events.append(
                begin_termination(
                    db,
                    row,
                    action.info,
                    action.final_status,
                    action.final_info,
                    dict(action.data),
                )
            )
        elif isinstance(action, Fail):
            out.events.append(fail_immediately(db, row, action.info, dict(action.data)))
        else:
            raise TypeError(f"{type(action).__name__} is not a session action")
    return out


def run_later(m: Manager, actions: Iterable[Action], agent_address: str | None = None) -> None:
    """Start the after-commit actions in the background. ``agent_address`` is where
    :class:`DestroyOrphan` kernels live (required when there are any)."""
    for action in actions:
        if isinstance(action, Destroy):
            m.spawn(destroy_session(m, action.session_id, force=action.force))
        elif isinstance(action, DestroyOrphan):
            if agent_address is None:  # the agent row is gone; its next heartbeat says where
                log.warning("orphan kernel %s left: its agent is unknown", action.kernel_id)
                continue
            m.spawn(m.agents.destroy_kernel(agent_address, action.kernel_id, grace=0))
        elif isinstance(action, Redispatch):
            m.spawn(dispatch_session(m, action.session_id))
        elif isinstance(action, Resend):
            queue_send(m, [action.session_id])
