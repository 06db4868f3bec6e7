"""Rows to API schemas where that needs more than one row: the lookups (owner emails, project
names) are done here, one query each, so that routes never query the database."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import slots as sl
from berth.domain.status import ENDED, AgentStatus, SessionStatus
from berth.manager.context import Manager
from berth.manager.db.engine import reading
from berth.manager.db.tables import AgentRow, ProjectRow, SessionRow, UserRow
from berth.manager.schemas import KernelDeviceOut, KernelOut, SessionOut
from berth.manager.services.sessions import Shown
from berth.manager.services.usage_out import summary


def agent_status(row: SessionRow | SimpleNamespace, agents: dict[str, AgentStatus]
                 ) -> AgentStatus | None:
    """The state of the session's agent (``agents``: id -> status) while the session has not
    ended; an agent that is gone from the table counts as LOST."""
    if row.agent_id is None or row.status in ENDED:
        return None
    return AgentStatus.ALIVE if agents.get(row.agent_id) is AgentStatus.ALIVE else AgentStatus.LOST


async def sessions_out(m: Manager, rows: Sequence[SessionRow] | Sequence[SimpleNamespace],
                       shown: Shown | None = None) -> list[SessionOut]:
    """Schemas for ``rows`` (in order): ORM rows, or a list page's plain rows (the same
    attributes, ``kernels`` included); owner emails and project names not in ``shown`` are
    looked up in one go each. The caller has already checked that the rows may be seen."""
    users = dict(shown.emails) if shown else {}
    projects = dict(shown.projects) if shown else {}
    wanted_users = {r.owner_id for r in rows} - users.keys()
    wanted_projects = {r.project_id for r in rows} - projects.keys()
    wanted_agents = {r.agent_id for r in rows if r.agent_id}
    # Live device figures from the agents' last heartbeats, for kernels holding devices.
    holding = {k.agent_id for r in rows for k in r.kernels if k.accelerators and k.agent_id}
    agents: dict[Any, Any] = {}
    infos: dict[Any, Any] = {}
    if wanted_users or wanted_projects or wanted_agents or holding:
        async with reading(m.db) as db:  # never waits for SQLite's write lock
            users |= await _lookup(db, UserRow.id, UserRow.email, wanted_users)
            projects |= await _lookup(db, ProjectRow.id, ProjectRow.name, wanted_projects)
            agents = await _lookup(db, AgentRow.id, AgentRow.status, wanted_agents)
            infos = await _lookup(db, AgentRow.id, AgentRow.info, holding)
    return [
        SessionOut(
            id=r.id,
            name=r.name,
            type=r.type,
            status=r.status,
            status_info=r.status_info,
            status_data=r.status_data,
            status_changed_at=r.status_changed_at,
            result=r.result,
            exit_code=r.exit_code,
            image=r.image,
            owner_id=r.owner_id,
            owner_email=users.get(r.owner_id, ""),
            creator_id=r.creator_id,
            project=projects.get(r.project_id, ""),
            resource_group=r.resource_group,
            agent_id=r.agent_id,
            agent_status=agent_status(r, agents),
            requested=_requested(r.requested_slots),
            environ=r.environ,
            startup_command=r.startup_command,
            starts_at=r.starts_at,
            timeout_seconds=r.timeout_seconds,
            preopen_ports=r.preopen_ports,
            mounts=r.mounts or [],
            cluster_mode=r.cluster_mode,
            cluster_size=r.cluster_size,
            priority=r.priority,
            queue_position=queue_position(r),
            created_at=r.created_at,
            started_at=r.started_at,
            terminated_at=r.terminated_at,
            kernels=[_kernel(k, infos) for k in r.kernels],
            # In memory only (the list is the busiest read): the agents' newest samples.
            usage=(summary(m.live, (k.id for k in r.kernels))
                   if r.status is SessionStatus.RUNNING else None),
        )
        for r in rows
    ]


def _kernel(k: Any, infos: dict[str, Any]) -> KernelOut:
    out = KernelOut.model_validate(k)
    if k.accelerators and k.agent_id in infos:
        out.devices = kernel_devices(k.accelerators, infos[k.agent_id])
    return out


def kernel_devices(allocations: list[Any], info: Any) -> list[KernelDeviceOut]:
    """The devices a kernel holds with what its agent last said about each (model, memory,
    utilization, memory used); a device the agent no longer reports is left out."""
    reported: dict[tuple[str, str], dict[str, Any]] = {}
    plugins = info.get("accelerators") if isinstance(info, dict) else None
    for plugin in plugins if isinstance(plugins, list) else []:
        for d in plugin.get("devices") or [] if isinstance(plugin, dict) else []:
            if isinstance(d, dict):
                reported[(str(plugin.get("name")), str(d.get("id")))] = d
    out = []
    for a in allocations:
        if not isinstance(a, dict):
            continue
        for device_id, amount in (a.get("devices") or {}).items():
            d = reported.get((str(a.get("slot_prefix")), str(device_id)))
            if d is None:
                continue
            out.append(KernelDeviceOut(
                plugin=str(a.get("slot_prefix")), id=str(device_id), mode=str(a.get("mode")),
                amount=str(amount), model=str(d.get("model") or ""),
                memory=int(d.get("memory") or 0), utilization=d.get("utilization"),
                memory_used=d.get("memory_used")))
    return out


def queue_position(row: SessionRow | SimpleNamespace) -> int | None:
    """A PENDING session's place in its group's queue, as the scheduler last recorded it."""
    if row.status is not SessionStatus.PENDING:
        return None
    found = (row.status_data or {}).get("scheduler", {})
    position = found.get("position") if isinstance(found, dict) else None
    return position if isinstance(position, int) and position >= 1 else None


def _requested(stored: dict[str, Any]) -> dict[str, str]:
    """The requested slots as decimal strings; a row whose slots cannot be read (it ended as
    ``internal-error`` for that) is still shown, with its values as stored."""
    try:
        return sl.to_json(sl.from_json(stored))
    except (ArithmeticError, ValueError, TypeError, AttributeError):
        return {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}


async def _lookup(db: AsyncSession, key: Any, value: Any, ids: set[str]) -> dict[Any, Any]:
    """``key -> value`` for the rows whose key is in ``ids``, in one query."""
    if not ids:
        return {}
    return dict((await db.execute(select(key, value).where(key.in_(ids)))).all())

