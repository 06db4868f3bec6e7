"""The hand-over: give a placed session's kernels to its agent (the scheduler's pass in
:mod:`.dispatch` decides where; this module builds each kernel's create request, sends it
through a bounded queue, and puts the session back in the queue when the agent does not take
it)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
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


def queue_send(m: Manager, session_ids: Sequence[str]) -> None:
    """:func:`send_kernels` for each session, through the manager's bounded send queue
    (:meth:`Manager.send_later`): a burst of placements opens no task per session."""
    m.send_later(session_ids, lambda session_id: _send(m, session_id))


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
    async with reading(m.db) as db:  # takes no write lock (SQLite)
        row = await db.get(SessionRow, session_id)
        if row is None or row.status is not S.PREPARING:
            return
        agent = await db.get(AgentRow, row.agent_id or "")
        try:
            sources = await folder_sources(m, db, row)
            sudo = bool(await db.scalar(select(ResourceGroupRow.allow_sudo)
                                        .where(ResourceGroupRow.name == row.resource_group)))
            specs = [kernel_spec(row, k.id, k.cluster_hostname, sources, k.accelerators, sudo)
                     for k in row.kernels]
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
