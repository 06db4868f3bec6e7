"""What the manager remembers of each agent's heartbeats, and how a beat's kernels are taken:
a full beat as it is, a delta applied to the kernels of the beat it is relative to.

An agent's beat is FULL (every kernel it has) or a DELTA relative to the beat ``base`` that
the manager acknowledged (:class:`berth.rpc.Heartbeat`). The manager keeps, per agent and in
memory only, the agent's epoch, the seq of the newest beat it handled (``acked``) and the
complete reports as of that beat. A delta is applied only when its (epoch, base) is exactly
(epoch, acked) and the result has as many kernels as the agent says it has; otherwise (the
manager restarted, beats overlapped, a count that does not add up) it is refused: the agent
is still alive, its kernels are not reconciled, and the reply asks for a full beat.

:func:`receive` and :func:`changed_kernels` are pure; :mod:`.agents` does the I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from berth.rpc import Heartbeat, KernelReport

Fingerprint = tuple[Any, ...]


def fingerprint(report: KernelReport) -> Fingerprint:
    """What of a kernel report matters to the reconciliation, hashable and cheap to compare."""
    ports = tuple((a.name, a.protocol, a.container_port, a.host_port) for a in report.app_ports)
    return (report.session_id, report.state, report.container_id, report.exit_code,
            report.oom_killed, ports)


@dataclass
class BeatMemory:
    """What the manager remembers of one agent's heartbeats, in memory only (after a restart
    the agent's deltas are refused until its full beat, which is reconciled in full)."""

    #: Kernel id -> :func:`fingerprint` of its report, for kernels whose session is RUNNING
    #: with every kernel on this agent reported running: nothing to do while it stays so.
    settled: dict[str, Fingerprint] = field(default_factory=dict)
    #: Live sessions seen last time that were not settled: looked at again on the next beat.
    unsettled: set[str] = field(default_factory=set)
    #: Digest of the images the last handled beat listed.
    images: str | None = None
    #: Database time when the last handled beat read the sessions; None: no beat handled.
    since: datetime | None = None
    #: Loop time of the last full reconciliation.
    last_full: float = float("-inf")
    #: The agent's epoch and the seq of its newest beat handled (None: none).
    epoch: str | None = None
    acked: int | None = None
    #: Every kernel the agent has as of beat ``acked`` (kernel id -> report).
    reports: dict[str, KernelReport] = field(default_factory=dict)
    #: The newest beat not handled yet (see :func:`.agents.handle_heartbeat`).
    latest: Heartbeat | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def ack_for(self, beat: Heartbeat) -> int | None:
        """The ``ack`` to answer ``beat`` with: the handled seq of its epoch, if any."""
        return self.acked if self.epoch == beat.epoch else None


@dataclass(frozen=True)
class Received:
    """A beat's kernels as the manager takes them (:func:`receive`)."""

    #: Every kernel the agent has as of this beat; None: a refused delta (not reconciled).
    reports: dict[str, KernelReport] | None
    #: Why a delta was refused ("" when taken).
    refused: str = ""


def receive(epoch: str | None, acked: int | None, known: Mapping[str, KernelReport],
            beat: Heartbeat) -> Received:
    """The agent's complete kernels as of ``beat``. ``epoch``, ``acked`` and ``known`` are
    the memory of the agent (:class:`BeatMemory`). A full beat is taken as it is; a delta is
    applied to a copy of ``known`` (its reports, then ``gone`` removed) only when it is
    relative to (``epoch``, ``acked``) and the result has ``kernel_count`` kernels."""
    if beat.base is None:
        return Received({k.kernel_id: k for k in beat.kernels})
    if beat.epoch != epoch or beat.base != acked:
        return Received(None, f"relative to beat {beat.base} of epoch {beat.epoch!r}, the "
                              f"manager holds beat {acked} of epoch {epoch!r}")
    reports = dict(known)
    reports.update((k.kernel_id, k) for k in beat.kernels)
    for kernel_id in beat.gone:
        reports.pop(kernel_id, None)
    if len(reports) != beat.kernel_count:
        return Received(None, f"{len(reports)} kernels after the delta, the agent has "
                              f"{beat.kernel_count}")
    return Received(reports)


def changed_kernels(settled: Mapping[str, Fingerprint], reports: Mapping[str, KernelReport],
                    beat: Heartbeat, prints: Mapping[str, Fingerprint]) -> set[str]:
    """The kernels a beat that is not a full reconciliation looks at: those whose report is
    not the settled one, and settled ones now gone. ``reports`` is the agent's complete
    kernels (:func:`receive`). For a full beat ``prints`` holds every report's fingerprint;
    for a delta only the delta's reports are fingerprinted (the others did not change), and
    the kernels that are not settled (orphans waiting to be removed, kernels of unsettled
    sessions) are looked at again from their ids, as a full beat would."""
    if beat.base is None:
        changed = {k for k, f in prints.items() if settled.get(k) != f}
        return changed | (settled.keys() - reports.keys())
    changed = {r.kernel_id for r in beat.kernels
               if settled.get(r.kernel_id) != (prints.get(r.kernel_id) or fingerprint(r))}
    changed |= reports.keys() - settled.keys()
    changed |= {k for k in beat.gone if k in settled}
    return changed
