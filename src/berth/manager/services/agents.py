"""What the manager does with agents' reports: register, list images, and reconcile sessions
against the kernels an agent actually has (events are fast; heartbeats repair lost events)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.status import ENDED, SessionStatus, StatusInfo, ended_outcome
from berth.manager.context import Manager, change_status
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
from berth.manager.services.termination import (
    begin_termination,
    destroy_session,
    fail_immediately,
)
from berth.rpc import EventKind, Heartbeat, KernelEvent, KernelReport, KernelState

S = SessionStatus
#: A kernel the agent does not know yet may still be on its way; give it this long.
CREATE_GRACE = timedelta(seconds=30)
LIVE = (S.PREPARING, S.CREATING, S.RUNNING, S.TERMINATING)


def _mark_running(
    db: AsyncSession, row: SessionRow, kernel: KernelRow, report: KernelReport
) -> list[Event]:
    kernel.container_id = report.container_id
    kernel.app_ports = [a.model_dump() for a in report.app_ports]
    events = []
    if row.status is S.PREPARING:
        events.append(change_status(db, row, S.CREATING, StatusInfo.CREATING))
    if row.status is S.CREATING:
        events.append(change_status(db, row, S.RUNNING, StatusInfo.STARTED))
    return events


def _on_exit(
    db: AsyncSession, row: SessionRow, kernel: KernelRow, report: KernelReport
) -> list[Event]:
    """The kernel's container stopped by itself: end the session with the right reason."""
    kernel.exit_code = report.exit_code
    if row.status not in (S.PREPARING, S.CREATING, S.RUNNING):
        return []
    final, info, result = ended_outcome(row.type, report.exit_code, report.oom_killed)
    row.exit_code = report.exit_code
    row.result = result
    data = {"exit_code": report.exit_code, "oom_killed": report.oom_killed}
    return [begin_termination(db, row, info, final, info, data)]


async def _session_of(db: AsyncSession, kernel_id: str) -> tuple[KernelRow, SessionRow] | None:
    kernel = await db.get(KernelRow, kernel_id)
    if kernel is None:
        return None
    row = await db.get(SessionRow, kernel.session_id, with_for_update=True)
    assert row is not None
    return kernel, row


async def handle_event(m: Manager, event: KernelEvent) -> None:
    """Apply one kernel event. Idempotent: a repeated or late event changes nothing."""
    to_destroy: list[str] = []
    events: list[Event] = []
    async with transaction(m.db) as db:
        found = await _session_of(db, event.kernel.kernel_id)
        if found is None:
            return
        kernel, row = found
        if event.kind is EventKind.STARTED:
            if row.status in ENDED:
                to_destroy.append(row.id)
            else:
                events += _mark_running(db, row, kernel, event.kernel)
        elif event.kind is EventKind.CREATE_FAILED:
            if row.status in (S.SCHEDULED, S.PREPARING, S.CREATING):
                events.append(
                    fail_immediately(
                        db,
                        row,
                        StatusInfo.FAILED_TO_START,
                        {
                            "error": event.error or "unknown error",
                            "where": f"agent {event.agent_id}",
                        },
                    )
                )
        elif event.kind is EventKind.EXITED:
            events += _on_exit(db, row, kernel, event.kernel)
            if row.status is S.TERMINATING:
                to_destroy.append(row.id)
    await m.publish(events)
    for session_id in to_destroy:
        m.spawn(destroy_session(m, session_id))
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
    agent.status = "ALIVE"
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


async def handle_heartbeat(m: Manager, beat: Heartbeat) -> None:
    """Register the agent and reconcile its sessions with the kernels it reports."""
    reported = {k.kernel_id: k for k in beat.kernels}
    events: list[Event] = []
    to_destroy: set[str] = set()
    orphans: list[str] = []
    now = utcnow()
    async with transaction(m.db) as db:
        was_new = await db.get(AgentRow, beat.agent_id) is None
        await _upsert_agent(db, beat)
        kernels = (
            await db.scalars(
                select(KernelRow)
                .join(SessionRow)
                .where(KernelRow.agent_id == beat.agent_id, SessionRow.status.in_(LIVE))
            )
        ).all()
        known = {k.id for k in kernels}
        for kernel in kernels:
            row = await db.get(SessionRow, kernel.session_id, with_for_update=True)
            assert row is not None
            report = reported.get(kernel.id)
            if report is None:
                # A heartbeat gathered just before the kernel started may arrive after its
                # "started" event: only a kernel missing for longer than the grace is lost.
                if now - row.status_changed_at <= CREATE_GRACE:
                    continue
                if row.status is S.RUNNING:
                    events.append(
                        fail_immediately(
                            db,
                            row,
                            StatusInfo.KERNEL_LOST,
                            {
                                "error": "the agent has no container for this kernel any more",
                                "where": f"agent {beat.agent_id}",
                            },
                        )
                    )
                elif row.status in (S.PREPARING, S.CREATING):
                    events.append(
                        fail_immediately(
                            db,
                            row,
                            StatusInfo.FAILED_TO_START,
                            {
                                "error": "the agent has no record of this kernel",
                                "where": f"agent {beat.agent_id}",
                            },
                        )
                    )
            elif report.state is KernelState.RUNNING:
                if row.status in (S.PREPARING, S.CREATING):
                    events += _mark_running(db, row, kernel, report)
                elif row.status is S.RUNNING and not kernel.app_ports:
                    kernel.app_ports = [a.model_dump() for a in report.app_ports]
            elif report.state is KernelState.EXITED:
                events += _on_exit(db, row, kernel, report)
                if row.status is S.TERMINATING:
                    to_destroy.add(row.id)
        for kernel_id, report in reported.items():
            if kernel_id not in known and report.state is not KernelState.CREATING:
                orphans.append(kernel_id)
    await m.publish(events)
    for session_id in to_destroy:
        m.spawn(destroy_session(m, session_id))
    for kernel_id in orphans:
        m.spawn(m.agents.destroy_kernel(beat.address, kernel_id, grace=0))
    if was_new or events or to_destroy:
        m.wake.set()
