"""What the manager does with agents' reports: register, list images, and reconcile sessions
against the kernels an agent actually has (events are fast; heartbeats repair lost events).

Load, decide, apply: the rows become snapshots, :mod:`berth.domain.reconcile` decides, and each
session's actions are applied in a savepoint of their own, so one session whose row breaks
its step is ended as ``internal-error`` (:mod:`.isolation`) while the others are reconciled."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.reconcile import LIVE, Action, on_event, orphans, reconcile_session
from berth.domain.status import AgentStatus
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ResourceGroupRow,
    SessionRow,
    utcnow,
)
from berth.manager.events import Event
from berth.manager.services.actions import apply_to_session, kernel_views, run_later, session_view
from berth.manager.services.isolation import TRANSIENT, fail_internal, fetch_each, graces_of
from berth.rpc import Heartbeat, KernelEvent

log = logging.getLogger(__name__)


async def _session_of_kernel(db: AsyncSession, kernel_id: str) -> str | None:
    found = await db.scalar(select(KernelRow.session_id).where(KernelRow.id == kernel_id))
    return found


async def handle_event(m: Manager, event: KernelEvent) -> None:
    """Apply one kernel event. Idempotent: a repeated or late event changes nothing. A
    session whose row breaks the step is ended as ``internal-error``."""
    events: list[Event] = []
    later: list[Action] = []
    async with transaction(m.db) as db:
        session_id = await _session_of_kernel(db, event.kernel.kernel_id)
        if session_id is None:
            return
        try:
            async with db.begin_nested():
                row = await db.get(SessionRow, session_id, with_for_update=True)
                if row is None:
                    return
                view = session_view(row, m.inflight)
                actions = on_event(
                    event.kind, view, event.kernel.kernel_id, event.kernel, event.agent_id,
                    event.error,
                )
                applied = apply_to_session(db, row, actions)
            events, later = applied.events, applied.later
        except TRANSIENT:
            raise
        except Exception as e:
            where = f"{event.kind} event from agent {event.agent_id}"
            failed = await fail_internal(db, session_id, where, e, utcnow())
            events = [failed] if failed else []
        address = await db.scalar(select(AgentRow.address).where(AgentRow.id == event.agent_id))
    await m.publish(events)
    run_later(m, later, address)
    m.wake.set()


async def _upsert_agent(db: AsyncSession, beat: Heartbeat) -> None:
    now = utcnow()
    if await db.get(ResourceGroupRow, beat.resource_group) is None:
        db.add(ResourceGroupRow(name=beat.resource_group))
        await db.flush()
    agent = await db.get(AgentRow, beat.agent_id)
    if agent is None:
        agent = AgentRow(id=beat.agent_id, first_contact=now)
        db.add(agent)
    agent.address = beat.address
    agent.resource_group = beat.resource_group
    agent.capacity = beat.capacity
    agent.version = beat.version
    agent.info = beat.info
    agent.status = AgentStatus.ALIVE
    agent.last_heartbeat = now
    reported = {i.ref: i for i in beat.images}
    for image in (await db.scalars(select(ImageRow))).all():
        holders = [a for a in image.agents if a != beat.agent_id]
        if image.ref in reported:
            holders.append(beat.agent_id)
        image.agents = sorted(holders)
    for ref, info in reported.items():
        row = await db.get(ImageRow, ref)
        if row is None:
            row = ImageRow(ref=ref, agents=[beat.agent_id])
            db.add(row)
        row.display_name = info.display_name
        row.version = info.version
        row.apps = [a.model_dump() for a in info.apps]
        row.min_slots = {"cpu": str(info.min_cpu), "mem": str(info.min_mem)}
        row.labels = info.labels
        row.updated_at = now


async def _live_kernels(db: AsyncSession, agent_id: str) -> list[tuple[str, str]]:
    """(kernel id, session id) of the live sessions' kernels on the agent; plain columns,
    so no row's other values can break this query."""
    result = await db.execute(
        select(KernelRow.id, KernelRow.session_id)
        .join(SessionRow, SessionRow.id == KernelRow.session_id)
        .where(KernelRow.agent_id == agent_id, SessionRow.status.in_(LIVE))
        .order_by(KernelRow.session_id, KernelRow.cluster_idx)
    )
    return [(k, s) for k, s in result.all()]


async def _lock_sessions(db: AsyncSession, ids: Sequence[str]) -> list[SessionRow]:
    query = select(SessionRow).where(SessionRow.id.in_(ids)).order_by(SessionRow.id)
    return list((await db.scalars(query.with_for_update())).all())


async def handle_heartbeat(m: Manager, beat: Heartbeat) -> None:
    """Register the agent and reconcile its sessions with the kernels it reports. A session
    whose row cannot be read or reconciled is ended as ``internal-error``; the others are
    reconciled in the same pass, and its kernel is not taken for an orphan this time."""
    graces = graces_of(m.settings)
    reports = {k.kernel_id: k for k in beat.kernels}
    events: list[Event] = []
    later: list[Action] = []
    async with transaction(m.db) as db:
        was_new = await db.get(AgentRow, beat.agent_id) is None
        await _upsert_agent(db, beat)
        pairs = await _live_kernels(db, beat.agent_id)
        ids = sorted({s for _, s in pairs})
        rows, failed = await fetch_each(ids, lambda chunk: _lock_sessions(db, chunk))
        now = utcnow()  # after the rows are locked: history never goes back in time
        for row in rows:
            try:
                async with db.begin_nested():
                    view = session_view(row, m.inflight)
                    kernels = kernel_views(row, beat.agent_id)
                    actions = reconcile_session(
                        view, kernels, reports, beat.agent_id, now, graces
                    )
                    applied = apply_to_session(db, row, actions)
                events += applied.events
                later += applied.later
            except TRANSIENT:
                raise
            except Exception as e:
                failed[row.id] = e
        for session_id, error in failed.items():
            where = f"heartbeat of agent {beat.agent_id}"
            if (event := await fail_internal(db, session_id, where, error, now)) is not None:
                events.append(event)
        unreadable = {k for k, s in pairs if s in failed}
        later += orphans(beat.kernels, {k for k, _ in pairs}, unreadable)
    await m.publish(events)
    run_later(m, later, beat.address)
    if was_new or events or later:
        m.wake.set()
