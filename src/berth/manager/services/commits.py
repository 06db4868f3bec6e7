"""Commit to image (issue 12), manager side: start a commit task, follow it on its agent,
list and remove customized images.

A task is a :class:`~berth.manager.db.tables.CommitRow`: *pending* until its agent accepted
it, *running* while the agent works, then *done* or *failed* with a reason. One background
driver per task (:func:`drive`, key ``commit:<id>`` in ``m.inflight``) asks the agent to
start it (idempotent per task id) and reads its state until it ends. The watchdog calls
:func:`resume_commits` every pass, so that after a manager restart every unfinished task is
followed again; an agent that no longer knows the task (it restarted) fails it with that
reason and is asked to remove the image's name, so no half-made image is listed and the
session is never held: normal termination is refused only while a task is active
(:mod:`.commit_guard`), and a force-termination fails the task.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import commits as cm
from berth.domain.rules import RuleError, RuleErrors
from berth.domain.status import SessionStatus, SessionType
from berth.manager import access
from berth.manager.agent_client import AgentUnreachable, AppFailed
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    AgentRow,
    CommitRow,
    ImageRow,
    SessionRow,
    UserRow,
    utcnow,
)
from berth.manager.schemas_commits import CommitOut, CustomizedImageOut
from berth.manager.services.errors import Conflict, Forbidden, NotFound
from berth.manager.services.policies import policy_of
from berth.manager.services.sessions import find_session
from berth.rpc import CommitState, StartCommit

log = logging.getLogger(__name__)
#: Seconds between two reads of a running task on its agent.
POLL_INTERVAL = 0.2
#: Seconds an agent may stay unreachable before its task fails.
UNREACHABLE_LIMIT = 120.0


async def start_commit(m: Manager, actor: Actor, ref: str, name: str) -> CommitOut:
    """Start saving session ``ref`` (its main kernel) as the caller's customized image
    ``name``. Raises RuleErrors (bad name: 422 on ``name``), NotFound, Forbidden (not the
    owner), Conflict (batch session, not RUNNING, a commit already running, the name taken,
    the policy's count reached)."""
    if problem := cm.name_problem(name):
        raise RuleErrors([RuleError("name", problem)])
    async with transaction(m.db) as db:
        row = await find_session(db, actor, ref, access.Action.COMMIT, lock=True)
        if row.type is SessionType.BATCH:
            raise Conflict("batch sessions cannot be committed to an image: only interactive "
                           "sessions can (a batch session ends with its command)")
        if row.status is not SessionStatus.RUNNING:
            raise Conflict(f"only a RUNNING session can be committed (this one is "
                           f"{row.status})")
        active = await _active(db, CommitRow.owner_id == actor.id)
        if any(c.session_id == row.id for c in active):
            raise Conflict("this session is being committed already; wait for that to end")
        image_ref = cm.ref_of(actor.id, name)
        if await db.get(ImageRow, image_ref) is not None or any(
                c.ref == image_ref for c in active):
            raise Conflict(f"you have a customized image named {name!r} already; remove it "
                           "('berth image rm') or choose another name")
        await _check_limit(db, actor, len(active))
        kernel = row.kernels[0]
        base = await db.get(ImageRow, row.image)
        task = CommitRow(session_id=row.id, owner_id=actor.id, agent_id=kernel.agent_id or "",
                         kernel_id=kernel.id, name=name, ref=image_ref,
                         status=cm.CommitStatus.PENDING, phase=cm.Phase.PREPARING,
                         progress=0, reason="")
        db.add(task)
        await db.flush()
        out = CommitOut.model_validate(task)
        labels = cm.image_labels(actor.id, name, row.image,
                                 base.display_name if base is not None else row.image)
    key = f"commit:{out.id}"
    m.inflight.add(key)
    m.spawn(drive(m, out.id, labels))
    return out


async def _active(db: AsyncSession, *where: ColumnElement[bool]) -> list[CommitRow]:
    return list((await db.scalars(select(CommitRow).where(
        CommitRow.status.in_([str(s) for s in cm.ACTIVE]), *where))).all())


async def _check_limit(db: AsyncSession, actor: Actor, active: int) -> None:
    """Raises Conflict when the owner's resource policy allows no further image."""
    user = await db.get(UserRow, actor.id)
    policy = await policy_of(db, user.resource_policy if user is not None else None)
    limit = policy.max_customized_images if policy is not None else None
    if limit is None:
        return
    # Counted here: JSON columns have no equality in PostgreSQL (an image no agent holds
    # any more is not counted).
    held = (await db.scalars(select(ImageRow.agents).where(
        ImageRow.owner_id == actor.id))).all()
    images = sum(1 for agents in held if agents)
    if problem := cm.limit_problem(limit, images, active):
        raise Conflict(problem)


async def drive(m: Manager, task_id: str, labels: dict[str, str] | None = None) -> None:
    """Follow one task to its end (see the module docstring). Never raises."""
    key = f"commit:{task_id}"
    m.inflight.add(key)
    try:
        await _drive(m, task_id, labels)
    except Exception as e:  # the task must end with a reason whatever broke here
        log.exception("commit task %s failed", task_id)
        await _finish(m, task_id, cm.CommitStatus.FAILED, f"internal error: {e}")
    finally:
        m.inflight.discard(key)


async def _drive(m: Manager, task_id: str, labels: dict[str, str] | None) -> None:
    async with m.db() as db:
        task = await db.get(CommitRow, task_id)
        agent = await db.get(AgentRow, task.agent_id) if task is not None else None
    if task is None or task.status not in cm.ACTIVE:
        return
    if agent is None:
        await _finish(m, task_id, cm.CommitStatus.FAILED, "the session's agent is gone")
        return
    address, loop = agent.address, asyncio.get_running_loop()
    if task.status == cm.CommitStatus.PENDING:
        req = StartCommit(task_id=task.id, ref=task.ref, labels=labels or {})
        try:
            started = await m.agents.start_commit(address, task.kernel_id, req, agent.id)
        except (AppFailed, AgentUnreachable) as e:
            await _finish(m, task_id, cm.CommitStatus.FAILED, f"the agent refused: {e}")
            return
        if not await _update(m, task_id, started):
            return
    silent_since: float | None = None
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        try:
            state: CommitState | None = await m.agents.commit_state(address, task_id,
                                                                     agent.id)
            silent_since = None
        except (AppFailed, AgentUnreachable) as e:
            silent_since = silent_since or loop.time()
            if loop.time() - silent_since < UNREACHABLE_LIMIT:
                continue
            await _finish(m, task_id, cm.CommitStatus.FAILED, f"the agent is unreachable: {e}")
            return
        if state is None:
            await _finish(m, task_id, cm.CommitStatus.FAILED,
                          "the agent restarted during the commit; no image was made")
            await _forget_image(m, address, agent.id, task.ref)
            return
        if not await _update(m, task_id, state):
            return


async def _update(m: Manager, task_id: str, state: CommitState) -> bool:
    """Store the agent's ``state``; False once the task has ended (here or meanwhile, e.g.
    a force-termination failed it: then a finished image is removed again)."""
    status = cm.status_of_phase(state.phase)
    async with transaction(m.db) as db:
        task = await db.get(CommitRow, task_id, with_for_update=True)
        if task is None:
            return False
        if not cm.can_move(task.status, status):
            ended_here = task.status == cm.CommitStatus.FAILED and status == cm.CommitStatus.DONE
            agent_id, ref = task.agent_id, task.ref
        else:
            ended_here = False
            task.status, task.phase, task.progress = str(status), state.phase, state.progress
            task.size = state.size
            task.reason = state.reason
            if status not in cm.ACTIVE:
                task.finished_at = utcnow()
            if status == cm.CommitStatus.DONE:
                await _register_image(db, task)
            return status in cm.ACTIVE
    if ended_here:  # failed by a force-termination, but the engine finished the image
        async with m.db() as db:
            agent = await db.get(AgentRow, agent_id)
        if agent is not None:
            await _forget_image(m, agent.address, agent.id, ref)
    return False


async def _register_image(db: AsyncSession, task: CommitRow) -> None:
    """List a finished image at once (its agent's next heartbeat writes the same row from
    the engine's labels), as its base image's apps and minimum with the customized labels."""
    if await db.get(ImageRow, task.ref) is not None:
        return
    session = await db.get(SessionRow, task.session_id)
    base = await db.get(ImageRow, session.image) if session is not None else None
    if base is None:
        return
    labels = {**(base.labels or {}), **cm.image_labels(
        task.owner_id, task.name, base.ref, base.display_name)}
    try:
        async with db.begin_nested():  # the heartbeat may write it at the same moment
            db.add(ImageRow(ref=task.ref, display_name=base.display_name,
                            version=labels["berth.version"], apps=list(base.apps),
                            min_slots=dict(base.min_slots), labels=labels,
                            agents=[task.agent_id], owner_id=task.owner_id))
    except IntegrityError:
        pass  # listed already


async def _finish(m: Manager, task_id: str, status: cm.CommitStatus, reason: str) -> None:
    async with transaction(m.db) as db:
        task = await db.get(CommitRow, task_id, with_for_update=True)
        if task is not None and cm.can_move(task.status, status) and task.status != status:
            task.status, task.phase, task.reason = str(status), str(status), reason
            task.progress = cm.PROGRESS[cm.Phase(str(status))]
            task.finished_at = utcnow()


async def _forget_image(m: Manager, address: str, agent_id: str, ref: str) -> None:
    try:
        await m.agents.remove_image(address, ref, agent_id)
    except (AppFailed, AgentUnreachable) as e:
        log.warning("could not remove the image %s of a failed commit: %s", ref, e)


async def resume_commits(m: Manager) -> None:
    """Follow again every unfinished task no driver of this process follows (a restart)."""
    async with m.db() as db:
        ids = (await db.scalars(select(CommitRow.id).where(
            CommitRow.status.in_([str(s) for s in cm.ACTIVE])))).all()
    for task_id in ids:
        if f"commit:{task_id}" not in m.inflight:
            m.inflight.add(f"commit:{task_id}")
            m.spawn(drive(m, task_id))


async def get_commit(m: Manager, actor: Actor, task_id: str) -> CommitOut:
    """A commit task of the caller (admins: anyone's). Raises NotFound."""
    async with m.db() as db:
        task = await db.get(CommitRow, task_id)
    if task is None or not (task.owner_id == actor.id or actor.is_admin):
        raise NotFound(f"no commit {task_id!r}")
    return CommitOut.model_validate(task)


async def session_commits(m: Manager, actor: Actor, ref: str) -> list[CommitOut]:
    """The commit tasks of a session the caller may see, newest first."""
    async with m.db() as db:
        row = await find_session(db, actor, ref)
        tasks = (await db.scalars(select(CommitRow).where(CommitRow.session_id == row.id)
                                  .order_by(CommitRow.created_at.desc()))).all()
    return [CommitOut.model_validate(t) for t in tasks]


async def list_customized(m: Manager, actor: Actor, everyone: bool = False
                          ) -> list[CustomizedImageOut]:
    """The caller's customized images on some agent; with ``everyone``, admins get all
    (with their owners' e-mails). Raises Forbidden for ``everyone`` from a non-admin."""
    if everyone and not actor.is_admin:
        raise Forbidden("only admins may list everyone's customized images")
    async with m.db() as db:
        query = select(ImageRow, UserRow.email).join(
            UserRow, UserRow.id == ImageRow.owner_id).order_by(ImageRow.ref)
        if not everyone:
            query = query.where(ImageRow.owner_id == actor.id)
        rows = (await db.execute(query)).all()
    return [CustomizedImageOut(
        ref=r.ref, name=(r.labels or {}).get(cm.LABEL_NAME, r.ref), owner_id=r.owner_id or "",
        owner_email=email, base=(r.labels or {}).get(cm.LABEL_FROM, ""),
        display_name=r.display_name, version=r.version, agents=list(r.agents),
        updated_at=r.updated_at) for r, email in rows if r.agents]


async def remove_customized(m: Manager, actor: Actor, ref: str) -> None:
    """Remove a customized image from every agent holding it (owner, or any admin).
    Raises NotFound, Conflict (an agent refused, e.g. a session runs it)."""
    async with m.db() as db:
        image = await db.get(ImageRow, ref)
        if image is None or image.owner_id is None or not (
                image.owner_id == actor.id or actor.is_admin):
            raise NotFound(f"no customized image {ref!r}")
        agents = (await db.scalars(select(AgentRow).where(
            AgentRow.id.in_(list(image.agents))))).all()
    for agent in agents:
        try:
            await m.agents.remove_image(agent.address, ref, agent.id)
        except AppFailed as e:
            raise Conflict(f"agent {agent.id} could not remove the image: {e}") from e
    async with transaction(m.db) as db:
        row = await db.get(ImageRow, ref, with_for_update=True)
        if row is not None:
            await db.delete(row)
