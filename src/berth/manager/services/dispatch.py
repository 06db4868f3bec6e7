"""The dispatcher: snapshot the cluster, ask the pure scheduler for a Plan, apply it in one
transaction, then hand each scheduled session's kernel to its agent."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, PendingSession, Plan, Snapshot, schedule
from berth.domain.status import OCCUPYING, SessionStatus, SessionType, StatusInfo
from berth.manager.agent_client import AgentUnreachable
from berth.manager.context import Manager, change_status, status_event
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, SessionHistoryRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.rpc import CreateKernel

S = SessionStatus


async def load_snapshot(db: AsyncSession) -> Snapshot:
    """Alive agents with what the sessions placed on them occupy."""
    agents = (
        await db.scalars(select(AgentRow).where(AgentRow.status == "ALIVE").order_by(AgentRow.id))
    ).all()
    occupying = await db.scalars(
        select(SessionRow).where(SessionRow.status.in_(OCCUPYING), SessionRow.agent_id.is_not(None))
    )
    used: dict[str, list[sl.Slots]] = defaultdict(list)
    for row in occupying:
        used[row.agent_id or ""].append(sl.from_json(row.requested_slots))
    return Snapshot(
        tuple(
            AgentState(
                id=a.id,
                resource_group=a.resource_group,
                capacity=sl.from_json(a.capacity),
                occupied=sl.total(used[a.id]),
            )
            for a in agents
        )
    )


def _pending_of(row: SessionRow) -> PendingSession:
    return PendingSession(
        id=row.id,
        created_at=row.created_at,
        requested=sl.from_json(row.requested_slots),
        resource_group=row.resource_group,
        starts_at=row.starts_at,
        agent_id=row.designated_agent,
    )


def _record_wait(db: AsyncSession, row: SessionRow, plan: Plan, now: datetime) -> Event | None:
    checks = plan.waiting[row.id]
    failed = [c for c in checks if not c.passed]
    info = StatusInfo.NO_AVAILABLE_RESOURCES
    if failed and failed[0].name == "start-time":
        info = StatusInfo.WAITING_FOR_START_TIME
    tries = int(row.status_data.get("scheduler", {}).get("tries", 0)) + 1
    row.status_data = {
        "scheduler": {
            "tries": tries,
            "last_try": now.isoformat(),
            "message": failed[0].message if failed else "",
            "checks": [asdict(c) for c in checks],
        }
    }
    if row.status_info == str(info):
        return None
    row.status_info = str(info)
    row.status_changed_at = now
    db.add(
        SessionHistoryRow(
            session_id=row.id,
            status=str(row.status),
            status_info=str(info),
            status_data=row.status_data,
            at=now,
        )
    )
    return status_event(row)


async def schedule_once(m: Manager) -> None:
    """One scheduler pass; spawns dispatch of every session it placed."""
    events: list[Event] = []
    placed: list[str] = []
    async with transaction(m.db) as db:
        query = select(SessionRow).where(SessionRow.status == S.PENDING)
        if db.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        pending = (await db.scalars(query.order_by(SessionRow.created_at).limit(500))).all()
        if not pending:
            return
        now = utcnow()  # after the rows are read: history never goes back in time
        plan = schedule(await load_snapshot(db), [_pending_of(r) for r in pending], now)
        for row in pending:
            agent_id = plan.assignments.get(row.id)
            if agent_id is None:
                event = _record_wait(db, row, plan, now)
                if event:
                    events.append(event)
                continue
            row.agent_id = agent_id
            for kernel in row.kernels:
                kernel.agent_id = agent_id
            events.append(
                change_status(db, row, S.SCHEDULED, StatusInfo.SCHEDULED, {"agent": agent_id}, now)
            )
            # Preparing starts in the same transaction: one commit less on every launch.
            events.append(change_status(db, row, S.PREPARING, StatusInfo.PREPARING, now=now))
            placed.append(row.id)
    await m.publish(events)
    for session_id in placed:
        m.spawn(send_kernels(m, session_id))


def kernel_spec(row: SessionRow, kernel_id: str, hostname: str) -> CreateKernel:
    requested = sl.from_json(row.requested_slots)
    cpu = float(requested["cpu"])
    environ = {
        "OMP_NUM_THREADS": str(max(1, math.ceil(cpu))),
        "OPENBLAS_NUM_THREADS": str(max(1, math.ceil(cpu))),
        **row.environ,
        "HOME": "/home/work",
        "BERTH_SESSION_ID": row.id,
        "BERTH_SESSION_NAME": row.name,
    }
    command = None
    if row.type == SessionType.BATCH and row.startup_command:
        command = ["/bin/sh", "-c", row.startup_command]
    return CreateKernel(
        kernel_id=kernel_id,
        session_id=row.id,
        session_name=row.name,
        owner_id=row.owner_id,
        session_type=row.type,
        image=row.image,
        cpu=cpu,
        mem=int(requested["mem"]),
        shmem=int(requested["shmem"]),
        environ=environ,
        command=command,
        preopen_ports=list(row.preopen_ports),
        hostname=hostname,
    )


async def dispatch_session(m: Manager, session_id: str) -> None:
    """SCHEDULED -> PREPARING, then :func:`send_kernels`. For sessions a previous manager
    process scheduled but did not dispatch (the watchdog calls it)."""
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, session_id, with_for_update=True)
        if row is None or row.status is not S.SCHEDULED:
            return
        event = change_status(db, row, S.PREPARING, StatusInfo.PREPARING)
    await m.publish([event])
    await send_kernels(m, session_id)


async def send_kernels(m: Manager, session_id: str) -> None:
    """Hand a PREPARING session's kernels to its agent, then mark it CREATING; the agent
    reports ``started``. Idempotent (the agent ignores a kernel it already has), so the
    watchdog may call it again for a session left PREPARING by a restart."""
    key = f"dispatch:{session_id}"
    if key in m.inflight:
        return
    m.inflight.add(key)
    try:
        await _send(m, session_id)
    finally:
        m.inflight.discard(key)


async def _send(m: Manager, session_id: str) -> None:
    async with m.db() as db:
        row = await db.get(SessionRow, session_id)
        if row is None or row.status is not S.PREPARING:
            return
        agent = await db.get(AgentRow, row.agent_id or "")
        specs = [kernel_spec(row, k.id, k.cluster_hostname) for k in row.kernels]
    try:
        if agent is None:
            raise AgentUnreachable(f"agent {row.agent_id} is not registered any more")
        for spec in specs:
            await m.agents.create_kernel(agent.address, spec)
    except AgentUnreachable as e:
        await _requeue(m, session_id, str(e))
        return
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, session_id, with_for_update=True)
        if row is None or row.status is not S.PREPARING:
            return  # the agent's "started" report was faster, or the user terminated it
        event = change_status(db, row, S.CREATING, StatusInfo.CREATING)
    await m.publish([event])


async def _requeue(m: Manager, session_id: str, error: str) -> None:
    """The agent did not take the kernel: mark it LOST (until its next heartbeat) and put the
    session back in the queue, where it waits for an agent with a reason."""
    events = []
    async with transaction(m.db) as db:
        row = await db.get(SessionRow, session_id, with_for_update=True)
        if row is None or row.status is not S.PREPARING:
            return
        agent = await db.get(AgentRow, row.agent_id or "")
        if agent is not None:
            agent.status = "LOST"
        data = {"error": error, "agent": row.agent_id}
        row.agent_id = None
        for kernel in row.kernels:
            kernel.agent_id = None
        events.append(change_status(db, row, S.PENDING, StatusInfo.AGENT_UNREACHABLE, data))
    await m.publish(events)
