"""Live usage in the manager: the agents' usage samples per kernel, kept in memory.

Contract (issue 11; the live-usage work fills in the transport, this module's interface is
fixed so the idle checks can rely on it):

* Agents report each sampling round (``POST /api/agent/v1/usage``); :meth:`LiveUsage.record`
  adds the samples. After a manager restart the store is empty; the agents send their whole
  window again when asked (so the utilization check continues where it was, as far as the
  agent's window reaches; a longer window waits to fill again, which only delays a verdict).
* Memory is bounded: per kernel at most ``keep`` recent samples for display, plus, for the
  idle checks, a compacted series (samples merged into buckets) covering ``horizon``
  seconds; a kernel that is not reported for ``horizon`` seconds is dropped.
* Everything here is in-process state: one manager holds the usage of the agents that
  report to it (docs/architecture.md says what that means with several managers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from berth.agent.usage_parse import Sample as UsageSample
from berth.domain import idle

#: Idle-check resource names (the keys of a utilization threshold).
CPU, MEM, ACCEL, ACCEL_MEM = "cpu", "mem", "accel", "accel_mem"
RESOURCES = (CPU, MEM, ACCEL, ACCEL_MEM)


class LiveUsage:
    """The usage samples of the kernels, by kernel id. Not thread-safe (event loop only)."""

    def __init__(self, keep: int = 60, horizon: float = 24 * 3600.0) -> None:
        self.keep = keep
        self.horizon = horizon
        #: The agents' sampling interval as last reported (seconds).
        self.interval: float = idle.DEFAULT_SAMPLE_INTERVAL
        self._recent: dict[str, list[UsageSample]] = {}

    def record(self, kernel_id: str, samples: Iterable[UsageSample]) -> None:
        """Add samples of a kernel (any order; ones already held are ignored)."""
        raise NotImplementedError  # the live-usage work implements this

    def forget(self, kernel_ids: Iterable[str]) -> None:
        """Drop what is held of these kernels (they ended). Idempotent."""
        for kernel_id in kernel_ids:
            self._recent.pop(kernel_id, None)

    def latest(self, kernel_id: str) -> UsageSample | None:
        """The kernel's newest sample; None before its first."""
        recent = self._recent.get(kernel_id)
        return recent[-1] if recent else None

    def series(self, kernel_id: str) -> list[UsageSample]:
        """The kernel's recent samples (at most ``keep``), oldest first."""
        return list(self._recent.get(kernel_id, ()))

    def idle_samples(self, kernel_id: str, cpu_cores: float,
                     since: datetime | None = None) -> tuple[list[idle.Sample], float]:
        """The kernel's samples as the idle checks read them, and the interval they were taken
        at (for :class:`berth.domain.idle.SessionFacts`'s ``sample_interval``; a compacted
        series reports its bucket width). Values are percent: ``cpu`` of the requested
        ``cpu_cores``, ``mem`` of the memory limit, ``accel`` the accelerator utilization,
        ``accel_mem`` of the accelerator memory held; None where not known."""
        raise NotImplementedError  # the live-usage work implements this


def requested_resources(slots: Mapping[str, object]) -> frozenset[str]:
    """The idle resources a session with these requested slots is checked on: cpu and mem
    always, accel and accel_mem when it holds accelerator slots (any slot other than cpu and
    mem)."""
    accelerated = any(name not in ("cpu", "mem", "shmem") for name in slots)
    return frozenset((CPU, MEM, ACCEL, ACCEL_MEM) if accelerated else (CPU, MEM))
