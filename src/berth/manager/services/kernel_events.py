"""What the manager does with an agent's kernel events (``started``, ``create-failed``,
``exited``): the fast path of the reconciliation (heartbeats repair lost events, see
:mod:`.agents`).

An agent posts the events it gathered since its last post as one :class:`KernelEvents`
(up to 256). :func:`handle_events` reads every kernel's session and the agent's address in
one read transaction, then applies the events in order, :data:`WRITE_CHUNK` a transaction,
each in a savepoint of its own: it is decided by :func:`berth.domain.reconcile.on_event` on
the session as the earlier events left it, so a kernel's ``started`` then ``exited`` in one
post ends its session as the ``exited`` says. An event whose step raises ends only its own
session as ``internal-error`` (:mod:`.isolation`); :data:`TRANSIENT` errors propagate (the
agent's post fails and is posted again; what was committed already is not repeated, since
an event applied twice changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain.reconcile import Action, on_event
from berth.manager.context import Manager
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import AgentRow, KernelRow, SessionRow, utcnow
from berth.manager.events import Event
from berth.manager.services.actions import apply_to_session, run_later, session_view
from berth.manager.services.isolation import TRANSIENT, fail_internal
from berth.rpc import KernelEvent

log = logging.getLogger(__name__)
#: Events applied per write transaction (SQLite: other writers get their turns in between).
WRITE_CHUNK = 50


async def handle_events(m: Manager, agent_id: str, events: Sequence[KernelEvent]) -> None:
    """Apply ``agent_id``'s ``events`` in order, each as if it came alone. Idempotent: a
    repeated or late event changes nothing. Events of kernels the manager does not know are
    ignored, and so (logged) are events that name another agent than the poster. A session
    whose row breaks an event's step is ended as ``internal-error``; the other events are
    applied. Raises :data:`TRANSIENT` database errors (the events of earlier chunks stay
    applied and published)."""
    mine = [e for e in events if e.agent_id == agent_id]
    if len(mine) < len(events):
        log.warning("agent %s posted %d events of other agents: ignored", agent_id,
                    len(events) - len(mine))
    if not mine:
        return
    async with reading(m.db) as db:  # no write lock for what does not change
        kernel_ids = sorted({e.kernel.kernel_id for e in mine})
        sessions: dict[str, str] = {k: s for k, s in (await db.execute(
            select(KernelRow.id, KernelRow.session_id).where(KernelRow.id.in_(kernel_ids))
        )).all()}
        address = await db.scalar(select(AgentRow.address).where(AgentRow.id == agent_id))
    todo = [(e, sessions[e.kernel.kernel_id]) for e in mine if e.kernel.kernel_id in sessions]
    for n in range(0, len(todo), WRITE_CHUNK):
        if n:
            await asyncio.sleep(0)  # SQLite runs on the loop's thread: let requests in
        published: list[Event] = []
        later: list[Action] = []
        chunk = todo[n : n + WRITE_CHUNK]
        async with transaction(m.db) as db:
            loaded = await _lock_all(db, sorted({session_id for _, session_id in chunk}))
            for event, session_id in chunk:
                try:
                    async with db.begin_nested():
                        # Locked and loaded above (no statement); alone if that failed.
                        row = await db.get(SessionRow, session_id,
                                           with_for_update=None if loaded is not None else True)
                        if row is None:
                            continue
                        actions = on_event(
                            event.kind, session_view(row, m.inflight), event.kernel.kernel_id,
                            event.kernel, agent_id, event.error,
                        )
                        applied = apply_to_session(db, row, actions)
                    published += applied.events
                    later += applied.later
                except TRANSIENT:
                    raise
                except Exception as e:
                    where = f"{event.kind} event from agent {agent_id}"
                    if (failed := await fail_internal(db, session_id, where, e,
                                                      utcnow())) is not None:
                        published.append(failed)
        await m.publish(published)
        run_later(m, later, address)
        m.wake.set()


async def _lock_all(db: AsyncSession, session_ids: Sequence[str]) -> list[SessionRow] | None:
    """Lock and load the chunk's sessions with their kernels in one go (id order, so that
    two transactions never wait on each other in a circle) into the session's identity map,
    which holds them while the caller keeps the list. None when a row among them cannot be
    loaded: each is then read alone, so that the broken one ends as ``internal-error`` by
    itself."""
    try:
        async with db.begin_nested():
            return list((await db.scalars(
                select(SessionRow).where(SessionRow.id.in_(session_ids))
                .order_by(SessionRow.id).with_for_update())).all())
    except TRANSIENT:
        raise
    except Exception:
        return None
