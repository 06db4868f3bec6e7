"""Session operations for users: create, find, list, rename. Every check that can fail does
so before anything is written, and a create of N sessions is one transaction."""

from __future__ import annotations

import math
import secrets
from datetime import UTC
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import rules
from berth.domain import slots as sl
from berth.domain.rules import RuleError
from berth.domain.status import ENDED, SessionStatus, SessionType, StatusInfo
from berth.manager import access
from berth.manager.access import Action
from berth.manager.auth import Actor
from berth.manager.context import Manager, status_event
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ProjectMemberRow,
    ProjectRow,
    SessionHistoryRow,
    SessionRow,
    UserRow,
)
from berth.manager.events import Event
from berth.manager.schemas import SessionCreate
from berth.manager.services.launches import remember_launch
from berth.manager.services.termination import terminate

S = SessionStatus
DEFAULT_MEM = 1 * 2**30
DEFAULT_SHMEM = 64 * 2**20


class NotFound(LookupError):
    """The thing does not exist or the caller may not see it (never tell which)."""


class Conflict(ValueError):
    """The request is valid but clashes with current state (409)."""


class Forbidden(PermissionError):
    """The caller is known but not allowed (403)."""


def can_see(actor: Actor, row: SessionRow) -> bool:
    """Whether ``actor`` may see ``row`` (see :mod:`berth.manager.access`)."""
    return access.can_see(actor, row)


async def find_session(
    db: AsyncSession, actor: Actor, ref: str, action: Action = Action.VIEW, lock: bool = False
) -> SessionRow:
    """A session ``actor`` may see, by id or else by name, checked for ``action``.

    By name, among the visible sessions so named: an active one before an ended one, the
    caller's own before one they launched for someone else, then the newest. ``lock`` takes
    the row for update (PostgreSQL) for the rest of the transaction. Raises NotFound when no
    visible session matches (never saying whether an invisible one does), Forbidden when the
    session is visible but ``action`` is not allowed."""
    row = await db.get(SessionRow, ref, with_for_update=lock)
    if row is None or not access.can_see(actor, row):
        query = select(SessionRow).where(SessionRow.name == ref, access.visible_sessions(actor))
        if lock:
            query = query.with_for_update()
        candidates = (await db.scalars(query)).all()
        if not candidates:
            raise NotFound(f"no session {ref!r}")
        row = min(candidates, key=lambda c: (
            c.status in ENDED, c.owner_id != actor.id, -c.created_at.timestamp()))
    if not access.can_act(actor, row, action):
        raise Forbidden(access.refusal(action))
    return row


async def _owner(db: AsyncSession, actor: Actor, email: str | None) -> UserRow:
    if email is None:
        user = await db.get(UserRow, actor.id)
        assert user is not None
        return user
    if not actor.is_admin:
        raise Forbidden("only admins may create sessions for another user (owner_email)")
    user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
    if user is None or not user.is_active:
        raise RuleError("owner_email", f"no active user with email {email}")
    return user


async def _project_of(db: AsyncSession, user: UserRow) -> str:
    project_id = await db.scalar(
        select(ProjectMemberRow.project_id).where(ProjectMemberRow.user_id == user.id)
    )
    if project_id is None:
        project_id = await db.scalar(select(ProjectRow.id).where(ProjectRow.name == "default"))
    assert project_id is not None
    return project_id


def _requested(req: SessionCreate, image: ImageRow) -> sl.Slots:
    min_cpu = Decimal(image.min_slots.get("cpu", "0"))
    min_mem = int(Decimal(image.min_slots.get("mem", "0")))
    cpu = (
        Decimal(str(req.resources.cpu))
        if req.resources.cpu is not None
        else max(Decimal(1), min_cpu)
    )
    mem = (
        rules.parse_size(req.resources.mem, "resources.mem")
        if req.resources.mem is not None
        else max(DEFAULT_MEM, min_mem)
    )
    shmem = (
        rules.parse_size(req.resources.shmem, "resources.shmem")
        if req.resources.shmem is not None
        else min(DEFAULT_SHMEM, mem)
    )
    rules.check_resources(float(cpu), mem, shmem)
    if cpu < min_cpu:
        raise RuleError("resources.cpu", f"the image needs at least {min_cpu} cores")
    if mem < min_mem:
        raise RuleError("resources.mem", f"the image needs at least {rules.format_size(min_mem)}")
    return {"cpu": cpu, "mem": Decimal(mem), "shmem": Decimal(shmem)}


async def _check_capacity(db: AsyncSession, req: SessionCreate, want: sl.Slots) -> None:
    query = select(AgentRow).where(AgentRow.resource_group == req.resource_group)
    agents = (await db.scalars(query)).all()
    if req.agent is not None:
        agents = [a for a in agents if a.id == req.agent]
        if not agents:
            raise RuleError("agent", f"no agent {req.agent} in resource group {req.resource_group}")
    if not agents:
        raise RuleError("resource_group", f"no agent in resource group {req.resource_group}")
    for key, field in (("cpu", "resources.cpu"), ("mem", "resources.mem")):
        largest = max(Decimal(a.capacity.get(key, "0")) for a in agents)
        if want[key] > largest:
            shown = rules.format_size(int(largest)) if key == "mem" else str(largest)
            raise RuleError(field, f"exceeds the largest agent's capacity ({shown})")


def _batch_fields(req: SessionCreate) -> int | None:
    if req.type is SessionType.BATCH:
        if not (req.startup_command or "").strip():
            raise RuleError("startup_command", "a batch session needs a startup command")
    else:
        for field in ("startup_command", "starts_at", "timeout"):
            if getattr(req, field) is not None:
                raise RuleError(field, "only batch sessions take this option")
    if req.starts_at is not None and req.starts_at.tzinfo is None:
        raise RuleError("starts_at", "must include a timezone, e.g. 2030-01-01T09:00:00+00:00")
    if req.timeout is None:
        return None
    return math.ceil(rules.parse_duration(req.timeout, "timeout").total_seconds())


def _names(req: SessionCreate) -> list[str]:
    base = req.name if req.name else None
    if base is not None:
        rules.check_session_name(base)
    if req.count == 1:
        return [base or f"s-{secrets.token_hex(4)}"]
    base = base or f"s-{secrets.token_hex(4)}"
    names = [f"{base}-{i}" for i in range(1, req.count + 1)]
    rules.check_session_name(names[-1])
    return names


def _environ(req: SessionCreate) -> dict[str, str]:
    environ = rules.check_environ(dict(req.environ))
    if req.threads is not None:
        rules.check_threads(req.threads, "threads")
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            environ.setdefault(key, str(req.threads))
    return environ


class _DryRun(Exception):
    def __init__(self, rows: list[SessionRow]) -> None:
        self.rows = rows


async def create_sessions(
    m: Manager, actor: Actor, req: SessionCreate, dry_run: bool = False
) -> list[SessionRow]:
    """Validate everything, then create ``req.count`` PENDING sessions in one transaction and
    remember the launch in the caller's recent history. Raises RuleError (422), Forbidden
    (403) or Conflict (409); nothing is written then. ``dry_run`` validates and returns the
    sessions that would be made, writing nothing."""
    timeout = _batch_fields(req)
    environ = _environ(req)
    names = _names(req)
    if req.cluster_size != 1:
        raise RuleError(
            "cluster_size", "sessions with more than one kernel are not supported yet; use 1"
        )
    events = []
    try:
        async with transaction(m.db) as db:
            owner = await _owner(db, actor, req.owner_email)
            image = await db.get(ImageRow, req.image)
            if image is None or not image.agents:
                raise RuleError("image", f"unknown image {req.image!r}; see the image list")
            rules.check_ports(
                req.preopen_ports, "preopen_ports", frozenset(a["port"] for a in image.apps)
            )
            want = _requested(req, image)
            await _check_capacity(db, req, want)
            taken = (
                await db.scalars(
                    select(SessionRow.name).where(
                        SessionRow.owner_id == owner.id,
                        SessionRow.name.in_(names),
                        SessionRow.status.not_in(ENDED),
                    )
                )
            ).all()
            if taken:
                raise Conflict(f"name: a session named {taken[0]!r} is already active")
            project_id = await _project_of(db, owner)
            rows = []
            for name in names:
                row = SessionRow(
                    name=name,
                    owner_id=owner.id,
                    creator_id=actor.id,
                    project_id=project_id,
                    type=req.type,
                    image=req.image,
                    resource_group=req.resource_group,
                    designated_agent=req.agent,
                    requested_slots=sl.to_json(want),
                    environ=environ,
                    startup_command=req.startup_command,
                    starts_at=req.starts_at.astimezone(UTC) if req.starts_at else None,
                    timeout_seconds=timeout,
                    preopen_ports=req.preopen_ports,
                    status=S.PENDING,
                    kernels=[KernelRow()],
                )
                db.add(row)
                rows.append(row)
            await db.flush()
            if dry_run:
                db.expunge_all()  # keep the rows' values; the rollback below discards them
                raise _DryRun(rows)
            for row in rows:
                events.append(_created_event(db, row))
            await remember_launch(db, actor.id, req)
    except IntegrityError as e:
        raise Conflict("name: a session with this name is already active") from e
    except _DryRun as dry:
        return dry.rows
    await m.publish(events)
    m.wake.set()
    return rows


def _created_event(db: AsyncSession, row: SessionRow) -> Event:
    db.add(
        SessionHistoryRow(
            session_id=row.id,
            status=str(row.status),
            status_info=str(StatusInfo.CREATED),
            status_data={},
            at=row.status_changed_at,
        )
    )
    return status_event(row)


async def list_sessions(
    m: Manager,
    actor: Actor,
    state: str,
    type_: SessionType | None,
    name: str | None,
    offset: int,
    limit: int,
    sort: str = "-created_at",
) -> tuple[list[SessionRow], int, dict[str, int]]:
    """A page of visible sessions, the total, and counts per type (same filters, any type)."""
    async with m.db() as db:
        return await _list_sessions(db, actor, state, type_, name, offset, limit, sort)


async def _list_sessions(
    db: AsyncSession,
    actor: Actor,
    state: str,
    type_: SessionType | None,
    name: str | None,
    offset: int,
    limit: int,
    sort: str,
) -> tuple[list[SessionRow], int, dict[str, int]]:
    query = select(SessionRow).where(access.visible_sessions(actor))
    if state == "running":
        query = query.where(SessionRow.status.not_in(ENDED))
    elif state == "finished":
        query = query.where(SessionRow.status.in_(ENDED))
    if name:
        query = query.where(SessionRow.name.contains(name, autoescape=True))
    by_type = await _count_by_type(db, query)
    counts = {"all": sum(by_type.values()), **{str(t): by_type.get(t, 0) for t in SessionType}}
    if type_ is not None:
        query = query.where(SessionRow.type == type_)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    column = SORTABLE[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    rows = (
        await db.scalars(
            query.order_by(order, SessionRow.created_at.desc(), SessionRow.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return list(rows), int(total or 0), counts


async def _count_by_type(db: AsyncSession, query: Select[SessionRow]) -> dict[str, int]:
    sub = query.subquery()
    result = await db.execute(select(sub.c.type, func.count()).group_by(sub.c.type))
    return {str(t): int(n) for t, n in result.tuples().all()}


SORTABLE = {
    "name": SessionRow.name,
    "status": SessionRow.status,
    "type": SessionRow.type,
    "image": SessionRow.image,
    "created_at": SessionRow.created_at,
    "started_at": SessionRow.started_at,
    "agent_id": SessionRow.agent_id,
    "cpu": SessionRow.requested_slots["cpu"].as_float(),
    "mem": SessionRow.requested_slots["mem"].as_float(),
    "owner": select(UserRow.email).where(UserRow.id == SessionRow.owner_id).scalar_subquery(),
}


async def rename(m: Manager, actor: Actor, ref: str, new_name: str) -> SessionRow:
    """Rename a RUNNING session (owner only) and return it as stored. Raises RuleError,
    NotFound, Forbidden or Conflict (not RUNNING, or the name is taken)."""
    rules.check_session_name(new_name)
    try:
        async with transaction(m.db) as db:
            row = await find_session(db, actor, ref, Action.RENAME, lock=True)
            if row.status is not S.RUNNING:
                raise Conflict(f"only RUNNING sessions can be renamed (this one is {row.status})")
            if new_name != row.name:
                clash = await db.scalar(
                    select(SessionRow.id).where(
                        SessionRow.owner_id == row.owner_id,
                        SessionRow.name == new_name,
                        SessionRow.status.not_in(ENDED),
                    )
                )
                if clash:
                    raise Conflict(f"name: a session named {new_name!r} is already active")
                row.name = new_name
    except IntegrityError as e:
        raise Conflict("name: a session with this name is already active") from e
    async with m.db() as db:  # as stored, with its kernels
        return await find_session(db, actor, row.id)


async def session_history(
    m: Manager, actor: Actor, ref: str
) -> tuple[SessionRow, list[SessionHistoryRow]]:
    """A visible session and its status changes, oldest first. Raises NotFound."""
    async with m.db() as db:
        row = await find_session(db, actor, ref)
        history = (
            await db.scalars(
                select(SessionHistoryRow)
                .where(SessionHistoryRow.session_id == row.id)
                .order_by(SessionHistoryRow.id)
            )
        ).all()
    return row, list(history)


async def terminate_session(m: Manager, actor: Actor, ref: str, force: bool) -> SessionRow:
    """End a session the caller may terminate (see :func:`termination.terminate`). Raises
    NotFound, Forbidden, or Conflict when it has already ended (or is already terminating
    and ``force`` is not set)."""
    async with m.db() as db:
        row = await find_session(db, actor, ref, Action.TERMINATE)
    info = StatusInfo.FORCE_TERMINATED if force else StatusInfo.USER_REQUESTED
    try:
        return await terminate(m, row.id, force, info)
    except ValueError as e:
        raise Conflict(str(e)) from e


async def log_source(
    m: Manager, actor: Actor, ref: str, kernel: str | None
) -> tuple[str, str, str]:
    """(agent id, agent address, kernel id) to read the logs of one kernel of a session the
    caller may see (default: its first kernel). Raises NotFound when there is no such kernel
    or it never started (so it has no logs)."""
    async with m.db() as db:
        row = await find_session(db, actor, ref, Action.LOGS)
        kernels = {k.id: k for k in row.kernels}
        target = kernels.get(kernel) if kernel else (row.kernels[0] if row.kernels else None)
        if target is None:
            raise NotFound(f"no kernel {kernel} in this session")
        agent = await db.get(AgentRow, target.agent_id or "")
    if agent is None or row.status is S.PENDING:
        raise NotFound("this kernel has not started, so it has no logs yet")
    return agent.id, agent.address, target.id
