"""The hand-over: give placed sessions' kernels to their agent (the scheduler's pass in
:mod:`.dispatch` decides where; this module builds each kernel's create request and sends
them, a batch of one agent's sessions per request, through a bounded queue grouped as
:mod:`.handover_batch` says, and puts the sessions back in the queue when the agent does not
take them)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import cluster
from berth.domain import slots as sl
from berth.domain.status import AgentStatus, SessionStatus, SessionType, StatusInfo
from berth.manager.agent_client import AgentUnreachable
from berth.manager.context import Manager, change_status
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import AgentRow, FolderRow, ResourceGroupRow, SessionRow, utcnow
from berth.manager.services.handover_batch import Handover, split
from berth.manager.services.isolation import fail_internal
from berth.rpc import ClusterSpec, CreateKernel, MountSpec
from berth.storage.hosts import configured_hosts

log = logging.getLogger(__name__)
S = SessionStatus


def kernel_spec(row: SessionRow, kernel_id: str, hostname: str,
                sources: dict[str, str] | None = None,
                accelerators: list[Any] | None = None, sudo: bool = False) -> CreateKernel:
    """The agent's create request for one kernel of ``row``; ``sources`` maps the ids of the
    folders it mounts to their directories (a missing one raises KeyError);
    ``accelerators`` are the devices the scheduler gave the kernel; ``sudo``: the session's
    resource group allows sudo."""
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
        accelerators=list(accelerators or []),
        sudo=sudo,
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


async def folder_sources(m: Manager, db: AsyncSession, rows: Sequence[SessionRow]
                         ) -> dict[str, str]:
    """The directories of the folders ``rows`` mount, by folder id, in one query (purged
    ones are absent; a folder in the trash still has its directory)."""
    ids = {mt["folder_id"] for row in rows for mt in row.mounts or []}
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


def queue_send(m: Manager, sessions: Sequence[str | Handover]) -> None:
    """Hand the sessions to their agents through the manager's bounded send queue
    (:meth:`Manager.send_later`), in batches of one agent's sessions (:func:`send_batch`): a
    burst of placements opens no task and makes no request per session. A session given by
    id alone is grouped once its row is read."""
    items = [s if isinstance(s, Handover) else Handover(s) for s in sessions]
    m.send_later(items, lambda session_ids: send_batch(m, session_ids))


async def send_kernels(m: Manager, session_id: str) -> None:
    """Hand one PREPARING session's kernels to its agent, then mark it CREATING
    (:func:`send_batch` with one session). Idempotent, so the watchdog may call it again for
    a session left PREPARING by a restart; does nothing while this process is sending the
    session already."""
    key = f"dispatch:{session_id}"
    if key in m.inflight:
        return
    m.inflight.add(key)
    try:
        await send_batch(m, [session_id])
    finally:
        m.inflight.discard(key)


@dataclass
class _Read:
    """What one read of a batch found: the create requests of each sendable session (in the
    order read) with its agent, the address of each agent, and the sessions whose row cannot
    make a kernel (with why)."""

    specs: dict[str, list[CreateKernel]] = field(default_factory=dict)
    agent_of: dict[str, str | None] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    unusable: dict[str, Exception] = field(default_factory=dict)


async def _read(m: Manager, db: AsyncSession, session_ids: Sequence[str]) -> _Read:
    """The batch's PREPARING sessions with their kernels, the folders they mount, their
    groups' ``allow_sudo`` and their agents: five queries, however many sessions."""
    out = _Read()
    rows = (await db.scalars(select(SessionRow).where(
        SessionRow.id.in_(session_ids), SessionRow.status == S.PREPARING))).all()
    if not rows:
        return out
    order = {session_id: n for n, session_id in enumerate(session_ids)}
    rows = sorted(rows, key=lambda r: order[r.id])
    sources = await folder_sources(m, db, rows)
    sudo = dict((await db.execute(select(ResourceGroupRow.name, ResourceGroupRow.allow_sudo)
                                  .where(ResourceGroupRow.name.in_(
                                      {r.resource_group for r in rows})))).tuples().all())
    out.addresses = dict((await db.execute(select(AgentRow.id, AgentRow.address).where(
        AgentRow.id.in_({r.agent_id for r in rows if r.agent_id})))).tuples().all())
    for row in rows:
        try:
            out.specs[row.id] = [
                kernel_spec(row, k.id, k.cluster_hostname, sources, k.accelerators,
                            bool(sudo.get(row.resource_group)))
                for k in row.kernels]
            out.agent_of[row.id] = row.agent_id
        except Exception as e:  # the row cannot make a kernel: sending again would not help
            out.unusable[row.id] = e
    return out


async def send_batch(m: Manager, session_ids: Sequence[str]) -> None:
    """Hand the PREPARING sessions among ``session_ids`` to their agents, then mark them
    CREATING; the agent reports ``started`` for each kernel. One read transaction for all,
    one ``create_kernels`` request per agent (per :data:`~berth.rpc.MAX_KERNELS_PER_BATCH`
    kernels; a session's kernels are never split), one write transaction for all that were
    taken, and the events published once. A session whose row cannot make a kernel ends as
    ERROR ``internal-error`` alone; when an agent does not take a request, every session of
    it goes back to PENDING (:func:`_requeue`). Idempotent: the agent ignores a kernel it
    has already, and a session no longer PREPARING is left alone."""
    async with reading(m.db) as db:  # takes no write lock (SQLite)
        found = await _read(m, db, session_ids)
    if found.unusable:
        now = utcnow()
        async with transaction(m.db) as db:
            failed = [await fail_internal(db, session_id, "dispatch", e, now)
                      for session_id, e in found.unusable.items()]
        await m.publish([event for event in failed if event is not None])
    taken: list[str] = []
    for agent_id, group in split((found.agent_of[i], i, len(specs))
                                 for i, specs in found.specs.items()):
        address = found.addresses.get(agent_id or "")
        try:
            if address is None:
                raise AgentUnreachable(f"agent {agent_id} is not registered any more")
            await m.agents.create_kernels(
                address, [spec for i in group for spec in found.specs[i]], agent_id or "")
        except AgentUnreachable as e:
            await _requeue(m, group, str(e))
            continue
        taken += group
    if taken:
        await _to_creating(m, taken)


async def _locked(db: AsyncSession, session_ids: Sequence[str]) -> Sequence[SessionRow]:
    """The sessions among ``session_ids`` still PREPARING, locked (PostgreSQL), in id order
    (so that two transactions locking several never wait on each other in a circle)."""
    return (await db.scalars(
        select(SessionRow).where(SessionRow.id.in_(session_ids),
                                 SessionRow.status == S.PREPARING)
        .order_by(SessionRow.id).with_for_update())).all()


async def _to_creating(m: Manager, session_ids: Sequence[str]) -> None:
    """PREPARING -> CREATING for the sessions their agent took, in one transaction; one
    that is no longer PREPARING is left (the agent's "started" report was faster, or the
    user terminated it)."""
    now = utcnow()
    async with transaction(m.db) as db:
        events = [change_status(db, row, S.CREATING, StatusInfo.CREATING, now=now)
                  for row in await _locked(db, session_ids)]
    await m.publish(events)


async def _requeue(m: Manager, session_ids: Sequence[str], error: str) -> None:
    """The agent did not take the sessions' kernels: mark it LOST (until its next heartbeat)
    and put every one of them back in the queue, where it waits for an agent with a reason;
    one transaction."""
    now = utcnow()
    events = []
    async with transaction(m.db) as db:
        rows = await _locked(db, session_ids)
        agents = (await db.scalars(select(AgentRow).where(
            AgentRow.id.in_({row.agent_id for row in rows if row.agent_id})))).all()
        for agent in agents:
            agent.status = AgentStatus.LOST
        for row in rows:
            data = {"error": error, "agent": row.agent_id}
            row.agent_id = None
            for kernel in row.kernels:
                kernel.agent_id = None
            events.append(change_status(db, row, S.PENDING, StatusInfo.AGENT_UNREACHABLE,
                                        data, now))
    await m.publish(events)
