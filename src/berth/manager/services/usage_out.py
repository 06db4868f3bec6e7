"""Live usage to API schemas (:mod:`berth.manager.schemas_usage`) and the agents' wire samples
to the store's (:class:`berth.agent.usage_parse.Sample`). In-memory lookups only: the sessions
list calls :func:`summary` for every RUNNING session of a page."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from berth.agent.usage_parse import Sample as UsageSample
from berth.manager.auth import Actor
from berth.manager.context import Manager
from berth.manager.db.engine import reading
from berth.manager.schemas_usage import KernelUsageOut, SessionUsageOut, UsagePoint, UsageSummary
from berth.manager.services.live_usage import LiveUsage
from berth.manager.services.sessions import find_session
from berth.rpc import KernelSample

_FIELDS = tuple(f.name for f in dataclasses.fields(UsageSample))


def samples_in(samples: Iterable[KernelSample]) -> list[UsageSample]:
    """The store's samples of an agent's wire samples."""
    return [UsageSample(**{name: getattr(s, name) for name in _FIELDS}) for s in samples]


def point(sample: UsageSample) -> UsagePoint:
    return UsagePoint(**{**dataclasses.asdict(sample),
                         "at": datetime.fromtimestamp(sample.at, UTC)})


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def summary(live: LiveUsage, kernel_ids: Iterable[str]) -> UsageSummary | None:
    """The newest sample of each kernel, summed: CPU percent and memory added up (memory
    limit null when some kernel has none), accelerator utilization averaged over the kernels
    that report one; ``at`` the newest sample's time. None before any sample."""
    latest = [s for k in kernel_ids if (s := live.latest(k)) is not None]
    if not latest:
        return None
    mem = _sum([s.mem_bytes for s in latest])
    limits = [s.mem_limit for s in latest]
    accel = [s.accel_percent for s in latest if s.accel_percent is not None]
    return UsageSummary(
        at=datetime.fromtimestamp(max(s.at for s in latest), UTC),
        cpu_percent=_sum([s.cpu_percent for s in latest]),
        mem_bytes=int(mem) if mem is not None else None,
        mem_limit=None if any(v is None for v in limits) else sum(v or 0 for v in limits),
        accel_percent=sum(accel) / len(accel) if accel else None,
    )


def session_usage(live: LiveUsage, session_id: str, kernels: Iterable[Any]) -> SessionUsageOut:
    """A session's usage: each kernel (rows with ``id`` and ``role``) with its newest sample
    and recent series."""
    return SessionUsageOut(
        session_id=session_id,
        interval=live.interval,
        kernels=[KernelUsageOut(kernel_id=k.id, role=k.role,
                                latest=point(s) if (s := live.latest(k.id)) else None,
                                series=[point(x) for x in live.series(k.id)])
                 for k in kernels],
    )


async def session_usage_of(m: Manager, actor: Actor, ref: str) -> SessionUsageOut:
    """The live usage of a session ``actor`` may see (by id or name). Raises NotFound."""
    async with reading(m.db) as db:
        row = await find_session(db, actor, ref)
    return session_usage(m.live, row.id, row.kernels)
