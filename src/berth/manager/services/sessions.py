"""Session operations for users: create, find, list, rename. Every check that can fail does
so before anything is written, and a create of N sessions is one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import cluster, launch, limits, rules
from berth.domain import policy as pol
from berth.domain import slots as sl
from berth.domain.mounts import Mount, MountWish, plan_mounts
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import ENDED, SessionStatus, SessionType, StatusInfo
from berth.images import labels
from berth.manager import access
from berth.manager.access import Action
from berth.manager.auth import Actor, Role
from berth.manager.context import Manager, status_event
from berth.manager.db.engine import reading, transaction
from berth.manager.db.history import add_history
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ProjectRow,
    ResourceGroupRow,
    SessionHistoryRow,
    SessionRow,
    UserRow,
)
from berth.manager.events import Event
from berth.manager.schemas import MountIn, SessionCreate
from berth.manager.services import folders, policies, projects, resource_groups
from berth.manager.services.errors import Conflict, Forbidden, NotFound
from berth.manager.services.launches import remember_launch
from berth.manager.services.snapshot import group_devices
from berth.manager.services.termination import terminate

S = SessionStatus


__all__ = ["Conflict", "Forbidden", "NotFound"]


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


async def _owner(db: AsyncSession, actor: Actor, email: str | None) -> UserRow | None:
    """The caller, or the active user ``email`` names (None when there is none)."""
    if email is None:
        return await db.get(UserRow, actor.id)
    user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
    return user if user is not None and user.is_active else None


async def _project_of(db: AsyncSession, asked: str | None, mine: list[ProjectRow],
                      whose: str) -> pol.ProjectFacts | RuleError:
    """The session's project: ``asked`` (a name or id) among the owner's projects ``mine``,
    or the owner's default (:func:`berth.domain.policy.pick_project`)."""
    fallback = None
    if asked is None and not any(p.is_active for p in mine):
        fallback = await db.scalar(select(ProjectRow).where(
            ProjectRow.name == projects.DEFAULT_PROJECT))
    return pol.pick_project(asked, [projects.facts(p) for p in mine],
                            projects.facts(fallback) if fallback else None, whose)


async def _group_facts(db: AsyncSession, owner: UserRow | None, mine: list[ProjectRow],
                       name: str) -> pol.GroupFacts:
    group = await db.get(ResourceGroupRow, name)
    if group is None:
        return pol.GroupFacts(exists=False)
    usable = False
    if owner is not None and owner.role == Role.SUPERADMIN:
        usable = True  # superadmins may use every group: the links decide nothing
    elif owner is not None:
        users, linked = await resource_groups.links_of(db, name)
        usable = pol.may_use_group(owner.role == Role.SUPERADMIN, owner.id,
                                   [p.id for p in mine], users, linked)
    return pol.GroupFacts(exists=True, is_active=group.is_active, usable=usable,
                          allowed_session_types=tuple(group.allowed_session_types or ()),
                          accelerator_quantum=group_devices(group)[0])


async def _pending(db: AsyncSession, policy: pol.PolicyLimits | None, *where: Any) -> int:
    if policy is None or policy.max_pending_sessions is None:
        return 0
    found = await db.scalar(select(func.count()).select_from(SessionRow).where(
        *where, SessionRow.status == S.PENDING))
    return int(found or 0)


async def _scopes(db: AsyncSession, owner: UserRow, project: pol.ProjectFacts | RuleError
                  ) -> list[pol.ScopeFacts]:
    """The owner's and the project's policies with their PENDING sessions now (counted only
    where a policy limits them: a count reads every session of the scope)."""
    user = await policies.policy_of(db, owner.resource_policy)
    scopes = [pol.ScopeFacts("user", user, await _pending(db, user, SessionRow.owner_id ==
                                                          owner.id))]
    if isinstance(project, pol.ProjectFacts):
        limits_ = await policies.policy_of(db, project.resource_policy)
        scopes.append(pol.ScopeFacts("project", limits_, await _pending(
            db, limits_, SessionRow.project_id == project.id)))
    return scopes


def counts_pending(scopes: Sequence[pol.ScopeFacts]) -> bool:
    """Whether a scope limits its pending sessions: then the check and the write must be in
    one transaction (else concurrent creates could pass the limit together)."""
    return any(s.policy is not None and s.policy.max_pending_sessions is not None
               for s in scopes)


def launch_request(req: SessionCreate) -> launch.LaunchRequest:
    """The domain's view of a create body (its schema checks passed)."""
    return launch.LaunchRequest(
        image=req.image, type=req.type, name=req.name or None,
        cpu=req.resources.cpu, mem=req.resources.mem, shmem=req.resources.shmem,
        other_slots=dict(req.resources.model_extra or {}), environ=dict(req.environ),
        threads=req.threads, count=req.count, startup_command=req.startup_command,
        starts_at=req.starts_at, timeout=req.timeout, owner_email=req.owner_email,
        resource_group=req.resource_group, agent=req.agent,
        preopen_ports=list(req.preopen_ports), cluster_size=req.cluster_size,
        cluster_mode=req.cluster_mode, project=req.project, priority=req.priority,
    )


async def _mounts(db: AsyncSession, owner_id: str, asked: list[MountIn], mine: set[str]
                  ) -> list[Mount] | list[RuleError]:
    """The session's mounts as its owner may have them, or every broken rule (``mine``: the
    owner's projects' ids)."""
    found, auto = await folders.mount_candidates(db, owner_id, [m.folder for m in asked], mine)
    errors = [f for f in found if isinstance(f, RuleError)]
    wishes = [MountWish(i, v.row.id, v.row.name, m.path, m.mode, folders.mount_allowed(v))
              for i, (m, v) in enumerate(zip(asked, found, strict=True))
              if not isinstance(v, RuleError)]
    planned = plan_mounts(wishes, [(v.row.id, v.row.name, folders.mount_allowed(v))
                                   for v in auto])
    problems = errors + [p for p in planned if isinstance(p, RuleError)]
    return problems or [p for p in planned if isinstance(p, Mount)]


async def _launch_context(
    db: AsyncSession, actor: Actor, req: launch.LaunchRequest, asked: list[MountIn],
    shown: Shown | None = None,
) -> launch.LaunchContext:
    """Everything the launch check needs, read once: the owner and their project and active
    names, the image, the agents of the resource group, the time, a seed for names. Puts the
    owner's email and the project's name in ``shown`` (for the answer)."""
    owner = await _owner(db, actor, req.owner_email)
    if owner is not None and shown is not None:
        shown.emails[owner.id] = owner.email
    image = await db.get(ImageRow, req.image)
    agents = (
        await db.scalars(select(AgentRow).where(AgentRow.resource_group == req.resource_group))
    ).all()
    seed = secrets.token_hex(4)
    taken: set[str] = set()
    # Names made from the random seed are not looked up: a clash (~count in 4 billion) is
    # still refused by the unique index (409), and the client may simply try again.
    if (owner is not None and req.name is not None
            and 1 <= req.count <= limits.SESSIONS_PER_REQUEST_MAX):
        names = launch.session_names(req, seed)
        taken = set(
            (
                await db.scalars(
                    select(SessionRow.name).where(
                        SessionRow.owner_id == owner.id,
                        SessionRow.name.in_(names),
                        SessionRow.status.not_in(ENDED),
                    )
                )
            ).all()
        )
    project: pol.ProjectFacts | RuleError = RuleError("project", "no owner")
    scopes: list[pol.ScopeFacts] = []
    mine: list[ProjectRow] = []
    if owner is not None:
        whose = "you are" if owner.id == actor.id else "the owner is"
        mine = await projects.member_projects(db, owner.id)
        project = await _project_of(db, req.project, mine, whose)
        if isinstance(project, pol.ProjectFacts) and shown is not None:
            shown.projects[project.id] = project.name
        scopes = await _scopes(db, owner, project)
    return launch.LaunchContext(
        owner_id=owner.id if owner is not None and owner.is_active else None,
        project_id=project.id if isinstance(project, pol.ProjectFacts) else "",
        project_problem=project if isinstance(project, RuleError) and owner else None,
        creator_is_admin=actor.is_admin,
        group=await _group_facts(db, owner, mine, req.resource_group),
        scopes=scopes,
        image=launch.ImageFacts(
            ref=image.ref,
            min_slots=dict(image.min_slots),
            app_ports=frozenset(int(a["container_port"]) for a in image.apps),
            available=bool(image.agents),
            accelerators=labels.accelerators_of(image.labels or {}),
        ) if image is not None and image.owner_id in (None, owner.id if owner else None)
        else None,  # another user's customized image is unknown here
        agents=[launch.AgentFacts(a.id, sl.from_json(a.capacity)) for a in agents],
        taken_names=frozenset(taken),
        name_seed=seed,
        now=datetime.now(UTC),
        mounts=(await _mounts(db, owner.id, asked, {p.id for p in mine}) if owner is not None
                else []),
    )


def _rows(plan: launch.LaunchPlan, creator_id: str) -> list[SessionRow]:
    return [
        SessionRow(
            name=name,
            owner_id=plan.owner_id,
            creator_id=creator_id,
            project_id=plan.project_id,
            type=plan.type,
            image=plan.image,
            resource_group=plan.resource_group,
            designated_agent=plan.agent,
            requested_slots=sl.to_json(plan.slots),
            environ=dict(plan.environ),
            startup_command=plan.startup_command,
            starts_at=plan.starts_at,
            timeout_seconds=plan.timeout_seconds,
            priority=plan.priority,
            preopen_ports=list(plan.preopen_ports),
            mounts=[m.as_json() for m in plan.mounts],
            status=S.PENDING,
            cluster_mode=plan.cluster_mode,
            cluster_size=plan.cluster_size,
            cluster_secret=_cluster_secret(plan.cluster_size),
            kernels=[KernelRow(role=k.role, cluster_idx=k.idx, cluster_hostname=k.hostname)
                     for k in cluster.layout(plan.cluster_size)],
        )
        for name in plan.names
    ]


def kernel_of(row: SessionRow, ref: str) -> KernelRow | None:
    """The session's kernel ``ref`` names: its id, or its hostname in the cluster (main1,
    sub1, ...)."""
    return next((k for k in row.kernels if ref in (k.id, k.cluster_hostname)), None)


def _cluster_secret(size: int) -> str | None:
    """A cluster session's own SSH key (OpenSSH private key); None for one kernel."""
    if size == 1:
        return None
    private, _ = cluster.ssh_keypair()
    return private


@dataclass
class Shown:
    """What a list of sessions shows beyond their rows and is known already: owner emails
    and project names by id (:func:`.views.sessions_out` looks up only the others)."""

    emails: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)


class _DryRun(Exception):
    def __init__(self, rows: list[SessionRow]) -> None:
        self.rows = rows


async def create_sessions(
    m: Manager, actor: Actor, req: SessionCreate, dry_run: bool = False,
    shown: Shown | None = None,
) -> list[SessionRow]:
    """Load what the request needs, validate all of it at once
    (:func:`berth.domain.launch.validate_launch`), then create ``req.count`` PENDING sessions
    in one transaction and remember the launch in the caller's recent history. Raises
    Forbidden (403: ``owner_email`` from a non-admin), RuleErrors (422: every broken rule, a
    name already in use included) or Conflict (409: a concurrent create took a name); nothing
    is written then. ``dry_run`` validates and returns the sessions that would be made,
    writing nothing. ``shown`` gets the owner's email and the project's name."""
    if req.owner_email is not None and not actor.is_admin:
        raise Forbidden("only admins may create sessions for another user (owner_email)")
    request = launch_request(req)
    try:
        return await _create(m, actor, req, request, dry_run, shown)
    except Conflict:
        if req.name is not None:
            raise
    # Generated names are not looked up first: on the rare clash, once more with new ones.
    return await _create(m, actor, req, request, dry_run, shown)


async def _create(m: Manager, actor: Actor, req: SessionCreate, request: launch.LaunchRequest,
                  dry_run: bool, shown: Shown | None) -> list[SessionRow]:
    events = []
    # Read and check before taking SQLite's write lock (a burst of creates then holds it
    # only to insert); a name taken meanwhile is caught by the unique index (409). Only
    # pending limits need the count and the insert in one transaction: checked again there.
    async with reading(m.db) as db:
        context = await _launch_context(db, actor, request, req.mounts, shown)
    try:
        async with transaction(m.db) as db:
            if counts_pending(context.scopes):
                context = await _launch_context(db, actor, request, req.mounts)
            plan = launch.validate_launch(request, context)
            if isinstance(plan, list):
                raise RuleErrors(plan)
            rows = _rows(plan, actor.id)
            db.add_all(rows)
            await db.flush()
            if dry_run:
                db.expunge_all()  # keep the rows' values; the rollback below discards them
                raise _DryRun(rows)
            for row in rows:
                events.append(_created_event(db, row))
            await remember_launch(db, actor.id, req)
    except IntegrityError as e:
        raise Conflict(f"name: {NAME_TAKEN}") from e
    except _DryRun as dry:
        return dry.rows
    await m.publish(events)
    m.wake.set()
    return rows


#: A concurrent request took the name between the check and the write (the unique index).
NAME_TAKEN = "another active session already has this name"


def _created_event(db: AsyncSession, row: SessionRow) -> Event:
    add_history(db, row.id, str(row.status), str(StatusInfo.CREATED), {},
                row.status_changed_at)
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
) -> tuple[list[SimpleNamespace], int, dict[str, int]]:
    """A page of visible sessions, the total, and counts per type (same filters, any type).

    Cheap at any size: the counts are one grouped count (the total is one of them), and
    every sort key has an index that yields the page in order (see ``SORTABLE``), so a page
    reads its rows, not the table. Reads only, so on SQLite it never waits for writers."""
    async with reading(m.db) as db:
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
) -> tuple[list[SimpleNamespace], int, dict[str, int]]:
    where = [access.visible_sessions(actor)]
    if state == "running":  # as IN: an index seeks each status instead of scanning
        where.append(SessionRow.status.in_(sorted(set(SessionStatus) - ENDED)))
    elif state == "finished":
        where.append(SessionRow.status.in_(ENDED))
    if name:
        where.append(SessionRow.name.contains(name, autoescape=True))
    by_type = await _count_by_type(db, where, actor.role is Role.SUPERADMIN and len(where) == 1)
    counts = {"all": sum(by_type.values()), **{str(t): by_type.get(t, 0) for t in SessionType}}
    if type_ is not None:
        where.append(SessionRow.type == type_)
    total = counts["all"] if type_ is None else by_type.get(str(type_), 0)
    # Core rows, not ORM objects: loading 50 sessions and their kernels through the ORM
    # (identity map, instrumented attributes, a select-in load) cost more than the queries.
    query = select(SessionRow.__table__).where(*where)
    key = sort.lstrip("-")
    if key == "owner":
        query = query.join(UserRow, UserRow.id == SessionRow.owner_id)
    page = (await db.execute(query.order_by(*_order(key, sort.startswith("-")))
                             .offset(offset).limit(limit))).mappings().all()
    kernels: dict[str, list[SimpleNamespace]] = {r["id"]: [] for r in page}
    if kernels:
        k = KernelRow.__table__
        for kernel in (await db.execute(
                select(k).where(k.c.session_id.in_(list(kernels)))
                .order_by(k.c.session_id, k.c.cluster_idx))).mappings():
            kernels[kernel["session_id"]].append(SimpleNamespace(**kernel))
    rows = [SimpleNamespace(**r, kernels=kernels[r["id"]]) for r in page]
    return rows, total, counts


def _order(key: str, descending: bool) -> list[Any]:
    """The page's order: the key, then creation time and id in the same direction (so one
    index serves a sort and its reverse; ties are newest first when descending)."""
    columns = [SORTABLE[key], SessionRow.created_at, SessionRow.id]
    if key == "created_at":
        columns = columns[1:]
    return [c.desc() if descending else c.asc() for c in columns]


async def _count_by_type(db: AsyncSession, where: list[Any], unfiltered: bool
                         ) -> dict[str, int]:
    """Counts per type. ``unfiltered`` (every session): grouped, which counts the covering
    ``(type, created_at)`` index. Otherwise one row of filtered counts: grouped, SQLite's
    planner would walk the type index to have the groups in order and read every row for
    the filter (~10 ms at 10,000 sessions); ungrouped it counts in the covering
    ``(status, type)`` or ``(owner_id, status, type)`` index (~2 ms)."""
    if unfiltered:
        result = await db.execute(
            select(SessionRow.type, func.count()).where(*where).group_by(SessionRow.type))
        return {str(t): int(n) for t, n in result.all()}
    row = (await db.execute(select(*(
        func.count().filter(SessionRow.type == t).label(str(t)) for t in SessionType
    )).where(*where))).one()
    return {str(t): int(n or 0) for t, n in zip(SessionType, row, strict=True)}


#: Sort keys of the list, each backed by an index ``(key, created_at)`` on ``sessions`` (the
#: owner's email by ``users.email`` joined to ``ix_sessions_owner_created``; cpu and mem by
#: expression indexes).
SORTABLE: dict[str, Any] = {
    "name": SessionRow.name,
    "status": SessionRow.status,
    "type": SessionRow.type,
    "image": SessionRow.image,
    "created_at": SessionRow.created_at,
    "started_at": SessionRow.started_at,
    "agent_id": SessionRow.agent_id,
    "cpu": SessionRow.requested_slots["cpu"].as_float(),
    "mem": SessionRow.requested_slots["mem"].as_float(),
    "owner": UserRow.email,
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
                    raise Conflict(f"name: another active session is already named '{new_name}'")
                row.name = new_name
    except IntegrityError as e:
        raise Conflict(f"name: {NAME_TAKEN}") from e
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
        target = (kernel_of(row, kernel) if kernel
                  else (row.kernels[0] if row.kernels else None))
        if target is None:
            raise NotFound(f"no kernel {kernel} in this session")
        agent = await db.get(AgentRow, target.agent_id or "")
    if agent is None or row.status is S.PENDING:
        raise NotFound("this kernel has not started, so it has no logs yet")
    return agent.id, agent.address, target.id
