"""The dispatcher: snapshot the cluster, ask the pure scheduler for a Plan, apply it in one
transaction, then hand each scheduled session's kernel to its agent."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import cluster
from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, PendingSession, Plan, Snapshot, schedule
from berth.domain.status import OCCUPYING, AgentStatus, SessionStatus, SessionType, StatusInfo
from berth.manager.agent_client import AgentUnreachable
from berth.manager.context import Manager, change_status, status_event
from berth.manager.db.engine import transaction
from berth.manager.db.tables import AgentRow, FolderRow, SessionHistoryRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.isolation import TRANSIENT, describe, fail_internal, fetch_each
from berth.rpc import ClusterSpec, CreateKernel, MountSpec
from berth.storage.hosts import configured_hosts

log = logging.getLogger(__name__)
S = SessionStatus


def _slots(data: Any) -> sl.Slots:
    """Slots from a row's JSON; every amount must be a finite number not below zero (the
    scheduler compares them, and NaN or text would break it for every session)."""
    if not isinstance(data, dict):
        raise ValueError(f"slots must be a JSON object, not {type(data).__name__}")
    amounts: sl.Slots = {}
    for key, value in data.items():
        try:
            amounts[key] = sl.from_json({key: value})[key]
        except (ArithmeticError, TypeError, ValueError):
            raise ValueError(f"slot {key} is not a number: {value!r}") from None
    bad = sorted(k for k, v in amounts.items() if not v.is_finite() or v < 0)
    if bad:
        raise ValueError(f"slot amounts must be finite and not negative: {', '.join(bad)}")
    return amounts


async def load_snapshot(db: AsyncSession) -> Snapshot:
    """Alive agents with what the sessions placed on them occupy. An agent or session whose
    slots cannot be read is left out (and logged), never the whole snapshot."""
    agents = (
        await db.scalars(
            select(AgentRow).where(AgentRow.status == AgentStatus.ALIVE).order_by(AgentRow.id)
        )
    ).all()
    occupying = await db.execute(
        select(SessionRow.id, SessionRow.agent_id, SessionRow.requested_slots).where(
            SessionRow.status.in_(OCCUPYING), SessionRow.agent_id.is_not(None)
        )
    )
    used: dict[str, list[sl.Slots]] = defaultdict(list)
    for session_id, agent_id, requested in occupying.all():
        try:
            used[agent_id or ""].append(_slots(requested))
        except Exception as e:
            log.warning("scheduler: slots of session %s not counted: %s", session_id, describe(e))
    states = []
    for a in agents:
        try:
            capacity = _slots(a.capacity)
        except Exception as e:
            log.warning("scheduler: agent %s left out: %s", a.id, describe(e))
            continue
        states.append(AgentState(a.id, a.resource_group, capacity, sl.total(used[a.id])))
    return Snapshot(tuple(states))


def _pending_of(row: SessionRow) -> PendingSession:
    """Raises when the row's values cannot be scheduled (the caller ends the session)."""
    if row.starts_at is not None and row.starts_at.tzinfo is None:
        raise ValueError("starts_at has no time zone")
    return PendingSession(
        id=row.id,
        created_at=row.created_at,
        requested=_slots(row.requested_slots),
        resource_group=row.resource_group,
        starts_at=row.starts_at,
        agent_id=row.designated_agent,
    )


def _plan(
    snapshot: Snapshot, pending: list[PendingSession], now: datetime
) -> tuple[Plan, dict[str, Exception]]:
    """The scheduler's plan. Should it raise, each session is tried alone to find the ones
    that make it raise; the plan is then made without them."""
    try:
        return schedule(snapshot, pending, now), {}
    except Exception:  # noqa: BLE001 - find the sessions to blame below
        pass
    failed: dict[str, Exception] = {}
    for one in pending:
        try:
            schedule(snapshot, [one], now)
        except Exception as e:
            failed[one.id] = e
    return schedule(snapshot, [p for p in pending if p.id not in failed], now), failed


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


def _place(db: AsyncSession, row: SessionRow, agent_id: str, now: datetime) -> list[Event]:
    row.agent_id = agent_id
    for kernel in row.kernels:
        kernel.agent_id = agent_id
    return [
        change_status(db, row, S.SCHEDULED, StatusInfo.SCHEDULED, {"agent": agent_id}, now),
        # Preparing starts in the same transaction: one commit less on every launch.
        change_status(db, row, S.PREPARING, StatusInfo.PREPARING, now=now),
    ]


async def _pending_ids(db: AsyncSession) -> list[str]:
    query = select(SessionRow.id).where(SessionRow.status == S.PENDING)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await db.scalars(query.order_by(SessionRow.created_at).limit(500)))


async def _rows(db: AsyncSession, ids: Sequence[str]) -> list[SessionRow]:
    return list((await db.scalars(select(SessionRow).where(SessionRow.id.in_(ids)))).all())


async def schedule_once(m: Manager) -> None:
    """One scheduler pass; spawns dispatch of every session it placed.

    A PENDING session the pass cannot handle (its row cannot be read, its slots are not
    numbers, the scheduler or the placement raises for it) is ended as ERROR
    ``internal-error`` with ``status_data = {error, where: "scheduler"}``; the other sessions
    are scheduled in the same pass."""
    events: list[Event] = []
    placed: list[str] = []
    async with transaction(m.db) as db:
        ids = await _pending_ids(db)
        if not ids:
            return
        rows, failed = await fetch_each(ids, lambda chunk: _rows(db, chunk))
        now = utcnow()  # after the rows are read: history never goes back in time
        pending: dict[str, PendingSession] = {}
        for row in rows:
            try:
                pending[row.id] = _pending_of(row)
            except Exception as e:
                failed[row.id] = e
        plan, unplanned = _plan(await load_snapshot(db), list(pending.values()), now)
        failed.update(unplanned)
        order = {session_id: n for n, session_id in enumerate(ids)}
        for row in sorted(rows, key=lambda r: order[r.id]):
            if row.id in failed:
                continue
            try:
                async with db.begin_nested():
                    agent_id = plan.assignments.get(row.id)
                    if agent_id is None:
                        step = [e for e in [_record_wait(db, row, plan, now)] if e]
                    else:
                        step = _place(db, row, agent_id, now)
            except TRANSIENT:
                raise
            except Exception as e:
                failed[row.id] = e
                continue
            events += step
            if agent_id is not None:
                placed.append(row.id)
        for session_id, error in failed.items():
            if (event := await fail_internal(db, session_id, "scheduler", error, now)) is not None:
                events.append(event)
    await m.publish(events)
    for session_id in placed:
        m.spawn(send_kernels(m, session_id))


def kernel_spec(row: SessionRow, kernel_id: str, hostname: str,
                sources: dict[str, str] | None = None) -> CreateKernel:
    """The agent's create request for one kernel of ``row``; ``sources`` maps the ids of the
    folders it mounts to their directories (a missing one raises KeyError)."""
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
    spec_of_cluster = _cluster_spec(row, hostname)
    if spec_of_cluster is not None:
        environ.update({
            "BERTH_CLUSTER_ROLE": spec_of_cluster.role,
            "BERTH_CLUSTER_IDX": str(spec_of_cluster.idx),
            "BERTH_CLUSTER_HOST": hostname,
            "BERTH_CLUSTER_HOSTS": ",".join(spec_of_cluster.hostnames),
            "BERTH_CLUSTER_SIZE": str(spec_of_cluster.size),
        })
    command = None
    # A batch cluster runs its command in main1; the other kernels wait for it (its sshd
    # serves them), and the session ends with main1's command.
    is_main = spec_of_cluster is None or spec_of_cluster.role == "main"
    if row.type == SessionType.BATCH and row.startup_command and is_main:
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
        mounts=[_mount(mt, sources or {}) for mt in row.mounts or []],
        cluster=spec_of_cluster,
    )


def _cluster_spec(row: SessionRow, hostname: str) -> ClusterSpec | None:
    """The kernel ``hostname``'s place in ``row``'s cluster; None for a session of one kernel.
    Raises ValueError when the session's cluster key is missing."""
    size = int(row.cluster_size or 1)
    if size == 1:
        return None
    slots = {k.hostname: k for k in cluster.layout(size)}
    if hostname not in slots:
        raise ValueError(f"kernel {hostname} is not one of a cluster of {size}")
    if not row.cluster_secret:
        raise ValueError("the cluster session has no SSH key")
    return ClusterSpec(
        size=size, role=slots[hostname].role, idx=slots[hostname].idx, hostname=hostname,
        hostnames=list(slots), network=f"berth-{row.id}",
        ssh_private_key=row.cluster_secret, ssh_public_key=cluster.public_of(row.cluster_secret),
    )


def _mount(mount: dict[str, Any], sources: dict[str, str]) -> MountSpec:
    if mount["folder_id"] not in sources:
        raise ValueError(f"folder '{mount['folder']}' (to mount at {mount['path']}) no longer "
                         "exists or its host is not configured")
    return MountSpec(source=sources[mount["folder_id"]], target=mount["path"],
                     read_only=mount["mode"] != "rw")


async def folder_sources(m: Manager, db: AsyncSession, row: SessionRow) -> dict[str, str]:
    """The directories of the folders ``row`` mounts, by folder id (purged ones are absent;
    a folder in the trash still has its directory)."""
    ids = [mt["folder_id"] for mt in row.mounts or []]
    if not ids:
        return {}
    hosts = configured_hosts(m.settings)
    found = (await db.execute(select(FolderRow.id, FolderRow.host)
                              .where(FolderRow.id.in_(ids)))).all()
    return {fid: str(hosts[host].folder_dir(fid)) for fid, host in found if host in hosts}


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
        try:
            sources = await folder_sources(m, db, row)
            specs = [kernel_spec(row, k.id, k.cluster_hostname, sources) for k in row.kernels]
        except Exception as e:  # the row cannot make a kernel: sending again would not help
            unusable: Exception | None = e
        else:
            unusable = None
    if unusable is not None:
        async with transaction(m.db) as db:
            failed = await fail_internal(db, session_id, "dispatch", unusable, utcnow())
        await m.publish([failed] if failed else [])
        return
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
            agent.status = AgentStatus.LOST
        data = {"error": error, "agent": row.agent_id}
        row.agent_id = None
        for kernel in row.kernels:
            kernel.agent_id = None
        events.append(change_status(db, row, S.PENDING, StatusInfo.AGENT_UNREACHABLE, data))
    await m.publish(events)
