"""What the manager does with agents' heartbeats: register, list images, and reconcile sessions
against the kernels an agent actually has (kernel events, :mod:`.kernel_events`, are fast;
heartbeats repair lost events).

Load, decide, apply: the rows become snapshots, :mod:`berth.domain.reconcile` decides, and each
session's actions are applied in a savepoint of their own, so one session whose row breaks
its step is ended as ``internal-error`` (:mod:`.isolation`) while the others are reconciled.

An agent has thousands of kernels on a big node and beats every few seconds; most beats
are deltas (only the reports that changed since the beat the manager acknowledged), applied
to the manager's copy of the agent's kernels (:mod:`.beat_memory`), and a delta that does
not fit that copy is refused (the agent is ALIVE, the reply asks for a full beat). Handling
costs what changed, not what the agent has (:class:`BeatMemory`): the manager remembers,
per agent and in memory, each *settled* kernel's report (its session is RUNNING and every
kernel of it here is reported running) and the images' digest. A beat
reconciles only the sessions whose kernels' reports changed or disappeared, those whose
status changed since the previous beat, and those not settled last time (a session starting,
ending, or waiting out a grace); it rewrites the image table only when the images changed.
The first beat handled after a manager start (a full one), and one every
``heartbeat_full_every`` seconds, is reconciled in full, so a restart never forgets a
session and a hand-edited row is seen.
Sessions are read first without locks; only those with something to write are locked, read
again and decided again. Beats of one agent never run side by side: one that arrives while
another is handled waits as "the newest" and is handled next (a late duplicate is dropped).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import slots as sl
from berth.domain.reconcile import (
    AFTER_COMMIT,
    LIVE,
    Action,
    KernelView,
    RecordKernel,
    SessionView,
    orphans,
    reconcile_session,
)
from berth.domain.status import AgentStatus, SessionStatus, SessionType
from berth.manager.context import Manager
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    KernelRow,
    ResourceGroupRow,
    SessionRow,
    utcnow,
)
from berth.manager.events import Event
from berth.manager.services.actions import (
    Applied,
    apply_to_session,
    kernel_views,
    run_later,
    session_view,
)
from berth.manager.services.beat_memory import BeatMemory as BeatMemory  # Manager.beats
from berth.manager.services.beat_memory import (
    Fingerprint,
    Received,
    changed_kernels,
    fingerprint,
    receive,
)
from berth.manager.services.isolation import TRANSIENT, fail_internal, graces_of
from berth.rpc import Heartbeat, HeartbeatReply, ImageInfo, KernelReport, KernelState

log = logging.getLogger(__name__)
S = SessionStatus
T = TypeVar("T")
#: Ids per query (well under every driver's limit of bound parameters).
CHUNK = 500
#: Sessions written per transaction.
WRITE_CHUNK = 200
#: How far before the previous beat a status change is looked for: a change stamped before
#: that beat read the database may commit after it (PostgreSQL runs transactions side by side).
CHANGE_MARGIN = timedelta(seconds=30)


def images_digest(images: Iterable[ImageInfo]) -> str:
    text = json.dumps([i.model_dump(mode="json") for i in images], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


async def _upsert_agent(db: AsyncSession, beat: Heartbeat, images_changed: bool) -> bool:
    """Register the agent (or refresh it) as ALIVE; rewrite the image table's view of its
    images only when ``images_changed``. Returns whether the agent is new."""
    now = utcnow()
    if await db.get(ResourceGroupRow, beat.resource_group) is None:
        db.add(ResourceGroupRow(name=beat.resource_group))
        await db.flush()
    agent = await db.get(AgentRow, beat.agent_id)
    new = agent is None
    if agent is None:
        agent = AgentRow(id=beat.agent_id, first_contact=now)
        db.add(agent)
    agent.address = beat.address
    if new:  # afterwards the group is the admins' to set (PATCH /api/agents/{id})
        agent.resource_group = beat.resource_group
    agent.capacity = beat.capacity
    agent.version = beat.version
    agent.info = {**beat.info, "accelerators": [a.model_dump() for a in beat.accelerators]}
    register_accelerator_slots(agent.info)
    agent.status = AgentStatus.ALIVE
    agent.last_heartbeat = now
    if new or images_changed:
        await _update_images(db, beat, now)
    return new


def register_accelerator_slots(info: Any) -> None:
    """Make the accelerator slots an agent reported (``AgentRow.info["accelerators"]``)
    known to this manager (:func:`berth.domain.slots.register_slot`): requestable, counted
    by the scheduler and policies, listed for the launcher and CLI."""
    plugins = info.get("accelerators") if isinstance(info, dict) else None
    for plugin in plugins if isinstance(plugins, list) else []:
        for slot in plugin.get("slots") or [] if isinstance(plugin, dict) else []:
            name = slot.get("name") if isinstance(slot, dict) else None
            if isinstance(name, str) and "." in name and name not in sl.SLOT_TYPES:
                sl.register_slot(name, str(slot.get("description") or ""))


async def register_known_slots(db: AsyncSession) -> None:
    """At start: the accelerator slots of every agent in the table (before their beats)."""
    for info in (await db.scalars(select(AgentRow.info))).all():
        register_accelerator_slots(info)


async def _update_images(db: AsyncSession, beat: Heartbeat, now: datetime) -> None:
    reported = {i.ref: i for i in beat.images}
    for image in (await db.scalars(select(ImageRow))).all():
        holders = [a for a in image.agents if a != beat.agent_id]
        if image.ref in reported:
            holders.append(beat.agent_id)
        if sorted(holders) != image.agents:
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
        # A customized image (issue 12) is its owner's only (access.can_use_image).
        row.owner_id = info.labels.get("berth.customized-owner") or None
        row.updated_at = now


# --- which sessions a beat looks at ---------------------------------------------------------


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def _pairs(db: AsyncSession, query: Any) -> dict[str, str]:
    """kernel id -> session id, plain columns, so no row's other values can break this."""
    return {k: s for k, s in (await db.execute(query)).all()}


async def _live_kernels(db: AsyncSession, agent_id: str) -> dict[str, str]:
    """Every kernel on the agent of a live session (a full reconciliation)."""
    return await _pairs(db, select(KernelRow.id, KernelRow.session_id)
                        .join(SessionRow, SessionRow.id == KernelRow.session_id)
                        .where(KernelRow.agent_id == agent_id, SessionRow.status.in_(LIVE)))


async def _kernels_of(db: AsyncSession, kernel_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(kernel_ids):
        found |= await _pairs(db, select(KernelRow.id, KernelRow.session_id)
                              .where(KernelRow.id.in_(chunk)))
    return found


async def _changed_since(db: AsyncSession, agent_id: str, since: datetime) -> dict[str, str]:
    """Kernels on the agent whose session's status changed since ``since`` (indexed)."""
    return await _pairs(db, select(KernelRow.id, KernelRow.session_id)
                        .join(SessionRow, SessionRow.id == KernelRow.session_id)
                        .where(SessionRow.status_changed_at >= since,
                               KernelRow.agent_id == agent_id))


async def _unsettled(db: AsyncSession, agent_id: str, sessions: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sessions):
        found |= await _pairs(db, select(KernelRow.id, KernelRow.session_id)
                              .where(KernelRow.session_id.in_(chunk),
                                     KernelRow.agent_id == agent_id))
    return found


# --- reading the sessions: a snapshot, no locks ---------------------------------------------


@dataclass
class _Stored:
    """One session as stored, with its kernels on the agent: (id, container id, app ports)."""

    view: SessionView
    kernels: list[tuple[str, str | None, list[Any]]]


_SESSION_COLUMNS = (SessionRow.id, SessionRow.status, SessionRow.type,
                    SessionRow.status_changed_at, SessionRow.started_at,
                    SessionRow.timeout_seconds)
# The kernel's status too: a value the ORM cannot read breaks the session like a load would.
_KERNEL_COLUMNS = (KernelRow.id, KernelRow.container_id, KernelRow.app_ports, KernelRow.status)


async def _stored(db: AsyncSession, agent_id: str, ids: Sequence[str],
                  inflight: set[str]) -> list[_Stored]:
    query = (select(*_SESSION_COLUMNS, *_KERNEL_COLUMNS)
             .join(KernelRow, KernelRow.session_id == SessionRow.id)
             .where(SessionRow.id.in_(ids), KernelRow.agent_id == agent_id)
             .order_by(SessionRow.id, KernelRow.cluster_idx))
    out: dict[str, _Stored] = {}
    for sid, status, type_, changed, started, timeout, kid, cid, ports, _ in (
            await db.execute(query)).all():
        if sid not in out:
            view = SessionView(
                id=sid, status=S(status), type=SessionType(type_), status_changed_at=changed,
                started_at=started, timeout_seconds=None if timeout is None else int(timeout),
                dispatching=f"dispatch:{sid}" in inflight, destroying=f"destroy:{sid}" in inflight)
            out[sid] = _Stored(view, [])
        out[sid].kernels.append((kid, cid, list(ports or [])))
    return list(out.values())


async def _each(ids: Sequence[str], fetch: Callable[[Sequence[str]], Awaitable[list[T]]]
                ) -> tuple[list[T], dict[str, Exception]]:
    """``fetch`` by chunks; a chunk that raises is fetched one id at a time, so a failure is
    pinned on the rows that cause it. :data:`TRANSIENT` errors propagate."""
    fetched: list[T] = []
    failed: dict[str, Exception] = {}
    for n, chunk in enumerate(_chunks(ids)):
        if n:
            await asyncio.sleep(0)  # SQLite runs on the loop's thread: let requests in
        try:
            fetched += await fetch(chunk)
            continue
        except TRANSIENT:
            raise
        except Exception:  # noqa: BLE001 - find the rows to blame below
            pass
        for one in chunk:
            try:
                fetched += await fetch([one])
            except TRANSIENT:
                raise
            except Exception as e:
                failed[one] = e
    return fetched, failed


def _effective(actions: list[Action], stored: dict[str, tuple[str | None, list[Any]]]
               ) -> list[Action]:
    """``actions`` without the records of what is stored already (no write for those)."""
    out: list[Action] = []
    for action in actions:
        if isinstance(action, RecordKernel) and action.kernel_id in stored:
            ports = [a.model_dump() for a in action.app_ports]
            if stored[action.kernel_id] == (action.container_id, ports):
                continue
        out.append(action)
    return out


# --- one beat -------------------------------------------------------------------------------


@dataclass
class _Pass:
    agent_id: str
    reports: dict[str, KernelReport]
    now: datetime
    events: list[Event] = field(default_factory=list)
    later: list[Action] = field(default_factory=list)
    failed: dict[str, Exception] = field(default_factory=dict)
    #: Final status of every live session looked at, with its kernel ids on the agent.
    seen: dict[str, tuple[SessionStatus, list[str]]] = field(default_factory=dict)


async def _lock_sessions(db: AsyncSession, ids: Sequence[str]) -> list[SessionRow]:
    query = select(SessionRow).where(SessionRow.id.in_(ids)).order_by(SessionRow.id)
    return list((await db.scalars(query.with_for_update(), execution_options={
        "populate_existing": True})).all())


def _apply_one(m: Manager, db: AsyncSession, p: _Pass, row: SessionRow) -> Applied:
    graces = graces_of(m.settings)
    stored = {k.id: (k.container_id, list(k.app_ports or []))
              for k in row.kernels if k.agent_id == p.agent_id}
    actions = reconcile_session(session_view(row, m.inflight), kernel_views(row, p.agent_id),
                                p.reports, p.agent_id, p.now, graces)
    applied = apply_to_session(db, row, _effective(actions, stored))
    p.seen[row.id] = (row.status, list(stored))
    return applied


async def _apply(m: Manager, db: AsyncSession, p: _Pass, ids: Sequence[str]) -> None:
    """Lock the sessions that have something to write, decide again on what is stored now,
    and apply: all in one savepoint, or, when one of them breaks that, each in a savepoint
    of its own (read again), so that only the broken one is failed."""
    if not ids:
        return
    rows, failed = await _each(ids, lambda chunk: _lock_sessions(db, chunk))
    # After the rows are locked (SQLite: the write lock): history never goes back in time.
    p.now = utcnow()
    p.failed.update(failed)
    try:
        async with db.begin_nested():
            done = [_apply_one(m, db, p, row) for row in rows]
    except TRANSIENT:
        raise
    except Exception:  # noqa: BLE001 - find the session to blame below
        pass
    else:
        for applied in done:
            p.events += applied.events
            p.later += applied.later
        return
    rows, _ = await _each([r.id for r in rows], lambda chunk: _lock_sessions(db, chunk))
    for row in rows:
        try:
            async with db.begin_nested():
                applied = _apply_one(m, db, p, row)
            p.events += applied.events
            p.later += applied.later
        except TRANSIENT:
            raise
        except Exception as e:
            p.seen.pop(row.id, None)
            p.failed[row.id] = e


async def _decide(m: Manager, db: AsyncSession, p: _Pass, ids: list[str]) -> list[str]:
    """Decide for each session on an unlocked snapshot; returns the sessions that have
    something to write (to lock and apply, see :func:`_apply`)."""
    graces = graces_of(m.settings)
    snapshot, p.failed = await _each(ids, lambda chunk: _stored(db, p.agent_id, chunk,
                                                                 m.inflight))
    to_write: list[str] = []
    for s in snapshot:
        if s.view.status not in LIVE:
            continue
        try:
            kernels = [KernelView(id=k, session_id=s.view.id, has_app_ports=bool(ports))
                       for k, _, ports in s.kernels]
            stored = {k: (cid, ports) for k, cid, ports in s.kernels}
            actions = _effective(reconcile_session(s.view, kernels, p.reports, p.agent_id,
                                                   p.now, graces), stored)
        except Exception as e:
            p.failed[s.view.id] = e
            continue
        if any(not isinstance(a, AFTER_COMMIT) for a in actions):
            to_write.append(s.view.id)
        else:
            p.later += actions
            p.seen[s.view.id] = (s.view.status, [k for k, _, _ in s.kernels])
    return to_write


def _settled(p: _Pass, kernels: list[str], status: SessionStatus) -> bool:
    if status is not S.RUNNING or not kernels:
        return False
    return all((r := p.reports.get(k)) is not None and r.state is KernelState.RUNNING
               for k in kernels)


def _remember(mem: BeatMemory, p: _Pass, looked_at: set[str], full: bool,
              prints: dict[str, Fingerprint]) -> None:
    """Update the memory after the pass committed: ``looked_at`` are the kernels whose
    remembered state this pass replaced; ``prints`` the fingerprints at hand (the others are
    taken from ``p.reports``)."""
    if full:
        mem.settled.clear()
        mem.unsettled.clear()
    for k in looked_at:
        mem.settled.pop(k, None)
    for session_id, (status, kernels) in p.seen.items():
        for k in kernels:
            mem.settled.pop(k, None)
        if _settled(p, kernels, status):
            mem.unsettled.discard(session_id)
            for k in kernels:
                mem.settled[k] = prints.get(k) or fingerprint(p.reports[k])
        elif status in LIVE:
            mem.unsettled.add(session_id)
        else:
            mem.unsettled.discard(session_id)
    for session_id in p.failed:
        mem.unsettled.discard(session_id)


def _prints(reports: dict[str, KernelReport]) -> dict[str, Fingerprint]:
    return {k: fingerprint(r) for k, r in reports.items()}


def _digest(beat: Heartbeat) -> tuple[Received, dict[str, Fingerprint]]:
    received = receive(None, None, {}, beat)
    return received, _prints(received.reports or {})


async def _receive(mem: BeatMemory, beat: Heartbeat) -> tuple[Received, dict[str, Fingerprint]]:
    """The agent's complete kernels as of ``beat`` (None: a refused delta) and the
    fingerprints computed on the way. A full beat of thousands of reports is read in a
    thread, so that the event loop keeps answering meanwhile; a delta is small."""
    if beat.base is None:
        return await asyncio.to_thread(_digest, beat)
    return receive(mem.epoch, mem.acked, mem.reports, beat), {}


async def _handle(m: Manager, mem: BeatMemory, beat: Heartbeat) -> HeartbeatReply:
    clock = asyncio.get_running_loop().time()
    received, prints = await _receive(mem, beat)
    images = images_digest(beat.images)
    # The agent is ALIVE whatever the reconciliation below costs: its row first, alone.
    async with transaction(m.db) as db:
        was_new = await _upsert_agent(db, beat, images != mem.images)
    mem.images = images
    if received.reports is None:
        if was_new:
            m.wake.set()
        log.info("heartbeat %d of agent %s: delta refused, asking for a full one (%s)",
                 beat.seq, beat.agent_id, received.refused)
        return HeartbeatReply(ack=mem.ack_for(beat), full=True)
    reports = received.reports
    full = mem.since is None or clock - mem.last_full >= m.settings.heartbeat_full_every
    if full and not prints:
        prints = await asyncio.to_thread(_prints, reports)
    # Read and decide without SQLite's write lock; lock and write only what must change
    # (decided again there on what is stored then).
    async with reading(m.db) as db:
        read_at = utcnow()
        p = _Pass(beat.agent_id, reports, read_at)
        if full:
            pairs = await _live_kernels(db, beat.agent_id)
            changed = set(reports)
        else:
            assert mem.since is not None
            changed = changed_kernels(mem.settled, reports, beat, prints)
            pairs = await _kernels_of(db, sorted(changed))
            pairs |= await _changed_since(db, beat.agent_id, mem.since - CHANGE_MARGIN)
            pairs |= await _unsettled(db, beat.agent_id, sorted(mem.unsettled))
        to_write = await _decide(m, db, p, sorted(set(pairs.values())))
    # Many changes (an agent that lost every kernel) are written a few hundred sessions a
    # transaction, so that other writers get their turns in between.
    chunks = [to_write[i : i + WRITE_CHUNK] for i in range(0, len(to_write), WRITE_CHUNK)]
    for n, chunk in enumerate(chunks or [[]]):
        if not chunk and not p.failed:
            break
        if n:
            await asyncio.sleep(0)  # SQLite runs on the loop's thread: let requests in
        async with transaction(m.db) as db:
            await _apply(m, db, p, chunk)
            if n == max(len(chunks) - 1, 0):
                for session_id, error in p.failed.items():
                    where = f"heartbeat of agent {beat.agent_id}"
                    if (event := await fail_internal(db, session_id, where, error,
                                                     p.now)) is not None:
                        p.events.append(event)
    known = {k for status, kernels in p.seen.values() if status in LIVE for k in kernels}
    unreadable = {k for k, s in pairs.items() if s in p.failed}
    looked_at = changed | set(pairs)
    p.later += orphans([reports[k] for k in sorted(looked_at) if k in reports], known,
                       unreadable)
    _remember(mem, p, looked_at, full, prints)
    mem.since = read_at
    if full:
        mem.last_full = clock
    mem.epoch, mem.acked, mem.reports = beat.epoch, beat.seq, reports
    await m.publish(p.events)
    run_later(m, p.later, beat.address)
    if was_new or p.events or p.later:
        m.wake.set()
    took = asyncio.get_running_loop().time() - clock
    kind = "full beat" if beat.base is None else (
        f"delta of {len(beat.kernels)} reports, {len(beat.gone)} gone")
    log.log(logging.INFO if full or took > 1 else logging.DEBUG,
            "heartbeat of agent %s (%s): %d kernels, %d sessions looked at, %d changed "
            "status, %.3f s; beat %d: %s", beat.agent_id, "full" if full else "changes",
            len(reports), len(set(pairs.values())), len(p.events), took, beat.seq, kind)
    return HeartbeatReply(ack=beat.seq)


async def handle_heartbeat(m: Manager, beat: Heartbeat) -> HeartbeatReply:
    """Register the agent and reconcile its sessions with the kernels it reports (see the
    module docstring for what a beat looks at). A session whose row cannot be read or
    reconciled is ended as ``internal-error``; the others are reconciled in the same pass,
    and its kernel is not taken for an orphan this time.

    A delta (:mod:`.beat_memory`) that is not relative to the beat the manager handled last
    keeps the agent ALIVE but is not reconciled: the reply asks for a full beat.

    Beats of one agent are handled one at a time: while one is handled, a newer one is kept
    and handled next (this call then returns at once, its reply carrying the ``ack`` of the
    beat handled so far), so a slow pass never piles up work. A newer delta replacing an
    older waiting one is relative to the same acknowledged beat, so nothing is lost.
    """
    mem = m.beats.setdefault(beat.agent_id, BeatMemory())
    mem.latest = beat
    if mem.lock.locked():
        return HeartbeatReply(ack=mem.ack_for(beat))
    reply: HeartbeatReply | None = None
    async with mem.lock:
        while (latest := mem.latest) is not None:
            mem.latest = None
            answer = await _handle(m, mem, latest)
            reply = reply or answer  # the first beat handled is this call's own
    assert reply is not None
    return reply
