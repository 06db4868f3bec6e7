"""Live usage in the manager: the agents' usage samples per kernel, kept in memory.

Contract (issue 11; the live-usage work fills in the transport, this module's interface is
fixed so the idle checks can rely on it):

* Agents report each sampling round (``POST /api/agent/v1/usage``); :meth:`LiveUsage.record`
  adds the samples. After a manager restart the store is empty; the agents send their whole
  window again when asked (so the utilization check continues where it was, as far as the
  agent's window reaches; a longer window waits to fill again, which only delays a verdict).
* Memory is bounded: per kernel at most ``keep`` recent samples for display, plus, for the
  idle checks, a compacted series (samples merged into buckets) covering ``horizon``
  seconds; a kernel that is not reported for ``horizon`` seconds is dropped. At the
  defaults (60 samples, 24 h in buckets of 5 min: 288 buckets of 80 bytes) that is about
  60 KB per kernel. A forgotten kernel (its session ended) is not taken back for
  ``FORGOTTEN_FOR`` seconds, so a late report cannot bring it back.
* Everything here is in-process state: one manager holds the usage of the agents that
  report to it (docs/architecture.md says what that means with several managers).
"""

from __future__ import annotations

import bisect
import math
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from berth.agent.usage_parse import Sample as UsageSample
from berth.domain import idle

#: Idle-check resource names (the keys of a utilization threshold).
CPU, MEM, ACCEL, ACCEL_MEM = "cpu", "mem", "accel", "accel_mem"
RESOURCES = (CPU, MEM, ACCEL, ACCEL_MEM)
#: Seconds a forgotten kernel's reports are ignored.
FORGOTTEN_FOR = 600.0
#: Seconds between two sweeps for kernels not reported for ``horizon``.
SWEEP_EVERY = 60.0
#: Buckets of the compacted series per ``horizon`` (unless ``bucket`` is given).
BUCKETS = 288
#: A bucket's fields in :class:`_Buckets`' flat array: its index (``floor(at / width)``), the
#: time of its first sample, then a sum and a count per resource (cpu in percent of one core,
#: the others in percent already).
_INDEX, _FIRST = 0, 1
_SUM = {CPU: 2, MEM: 4, ACCEL: 6, ACCEL_MEM: 8}
_STRIDE = 10


def percent_of(value: float | None, limit: float | None) -> float | None:
    """``value`` in percent of ``limit``; None when either is unknown or the limit is not
    above 0."""
    if value is None or limit is None or limit <= 0:
        return None
    return value / limit * 100.0


def _raw_values(sample: UsageSample) -> dict[str, float | None]:
    """A sample's figures for the idle checks, cpu still in percent of one core."""
    return {CPU: sample.cpu_percent,
            MEM: percent_of(sample.mem_bytes, sample.mem_limit),
            ACCEL: sample.accel_percent,
            ACCEL_MEM: percent_of(sample.accel_mem_bytes, sample.accel_mem_limit)}


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0


class _Buckets:
    """A kernel's compacted series: per bucket of ``width`` seconds the time of its first
    sample and each resource's sum and count, in one flat array ordered by bucket."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.data = array("d")

    def __len__(self) -> int:
        return len(self.data) // _STRIDE

    def _index_at(self, position: int) -> float:
        return self.data[position * _STRIDE + _INDEX]

    def add(self, sample: UsageSample) -> None:
        index = float(math.floor(sample.at / self.width))
        n = len(self)
        lo, hi = 0, n
        while lo < hi:  # the bucket's position (nearly always the last one)
            mid = (lo + hi) // 2
            if self._index_at(mid) < index:
                lo = mid + 1
            else:
                hi = mid
        if lo == n or self._index_at(lo) != index:
            fresh = array("d", [0.0] * _STRIDE)
            fresh[_INDEX], fresh[_FIRST] = index, sample.at
            self.data[lo * _STRIDE:lo * _STRIDE] = fresh
        base = lo * _STRIDE
        self.data[base + _FIRST] = min(self.data[base + _FIRST], sample.at)
        for name, value in _raw_values(sample).items():
            if value is not None and _usable(value):
                self.data[base + _SUM[name]] += value
                self.data[base + _SUM[name] + 1] += 1

    def drop_before(self, at: float) -> None:
        """Forget the buckets that end before ``at``."""
        index = math.floor(at / self.width)
        keep_from = 0
        while keep_from < len(self) and self._index_at(keep_from) < index:
            keep_from += 1
        if keep_from:
            del self.data[:keep_from * _STRIDE]

    def samples(self, cpu_cores: float, since: float | None) -> list[idle.Sample]:
        out = []
        for position in range(len(self)):
            base = position * _STRIDE
            if since is not None and (self.data[base + _INDEX] + 1) * self.width < since:
                continue
            values: dict[str, float | None] = {}
            for name, offset in _SUM.items():
                count = self.data[base + offset + 1]
                values[name] = self.data[base + offset] / count if count else None
            out.append(idle.Sample(_when(self.data[base + _FIRST]),
                                   _scaled(values, cpu_cores)))
        return out


def _when(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _scaled(values: Mapping[str, float | None], cpu_cores: float) -> dict[str, float | None]:
    cpu = values.get(CPU)
    return {**values, CPU: cpu / cpu_cores if cpu is not None and cpu_cores > 0 else None}


class LiveUsage:
    """The usage samples of the kernels, by kernel id. Not thread-safe (event loop only).

    ``bucket``: the compacted series' bucket width in seconds (default: ``horizon`` /
    :data:`BUCKETS`, at least 60 s). ``clock``: monotonic seconds, for when kernels were
    last reported (tests give their own)."""

    def __init__(self, keep: int = 60, horizon: float = 24 * 3600.0,
                 bucket: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if keep < 1 or horizon <= 0:
            raise ValueError("keep must be at least 1 and horizon above 0")
        self.keep = keep
        self.horizon = horizon
        self.bucket = bucket if bucket is not None else max(60.0, horizon / BUCKETS)
        #: The agents' sampling interval as last reported (seconds).
        self.interval: float = idle.DEFAULT_SAMPLE_INTERVAL
        self._recent: dict[str, list[UsageSample]] = {}
        self._series: dict[str, _Buckets] = {}
        self._seen: dict[str, float] = {}
        self._forgotten: dict[str, float] = {}
        self._clock = clock
        self._swept = clock()

    def receive(self, kernels: Mapping[str, Iterable[UsageSample]],
                interval: float | None = None) -> list[str]:
        """Record an agent's report (kernel id -> samples) taken every ``interval`` seconds;
        returns the kernel ids that were not known before (their whole window is wanted:
        after a manager restart the store is empty). Forgotten kernels are ignored."""
        if interval is not None and math.isfinite(interval) and interval > 0:
            self.interval = interval
        unknown = []
        for kernel_id, samples in kernels.items():
            if kernel_id in self._forgotten:
                continue
            if not self._recent.get(kernel_id):
                unknown.append(kernel_id)
            self.record(kernel_id, samples)
        self.sweep()
        return unknown

    def record(self, kernel_id: str, samples: Iterable[UsageSample]) -> None:
        """Add samples of a kernel (any order; ones already held are ignored)."""
        if kernel_id in self._forgotten:
            return
        self._seen[kernel_id] = self._clock()
        recent = self._recent.setdefault(kernel_id, [])
        series = self._series.setdefault(kernel_id, _Buckets(self.bucket))
        fresh = sorted((s for s in samples if math.isfinite(s.at)), key=lambda s: s.at)
        for sample in fresh[-self.keep:]:  # at most a window's worth per call
            i = bisect.bisect_left(recent, sample.at, key=lambda s: s.at)
            if i < len(recent) and recent[i].at == sample.at:
                continue  # held already
            if i == 0 and len(recent) >= self.keep:
                continue  # older than all kept: held before, or too old to tell
            recent.insert(i, sample)
            if len(recent) > self.keep:
                del recent[0]
            if sample.at >= recent[-1].at - self.horizon:
                series.add(sample)
        if recent:
            series.drop_before(recent[-1].at - self.horizon)

    def forget(self, kernel_ids: Iterable[str]) -> None:
        """Drop what is held of these kernels (they ended). Idempotent."""
        now = self._clock()
        for kernel_id in kernel_ids:
            self._recent.pop(kernel_id, None)
            self._series.pop(kernel_id, None)
            self._seen.pop(kernel_id, None)
            self._forgotten[kernel_id] = now

    def sweep(self, force: bool = False) -> None:
        """Drop the kernels not reported for ``horizon`` seconds and the forgotten ones past
        :data:`FORGOTTEN_FOR` (at most every :data:`SWEEP_EVERY` seconds unless ``force``)."""
        now = self._clock()
        if not force and now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        stale = [k for k, seen in self._seen.items() if now - seen > self.horizon]
        for kernel_id in stale:
            self._recent.pop(kernel_id, None)
            self._series.pop(kernel_id, None)
            self._seen.pop(kernel_id, None)
        self._forgotten = {k: at for k, at in self._forgotten.items()
                           if now - at <= FORGOTTEN_FOR}

    def kernels(self) -> list[str]:
        """The kernel ids held."""
        return list(self._recent)

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
        ``accel_mem`` of the accelerator memory held; None where not known.

        The recent samples when they reach back to ``since`` (from the last one at or before
        it) or are all there is; else the compacted series from the bucket holding ``since``
        (all of it for None)."""
        recent = self._recent.get(kernel_id)
        if not recent:
            return [], self.interval
        start = since.timestamp() if since is not None else None
        if len(recent) < self.keep or (start is not None and recent[0].at <= start):
            first = 0
            if start is not None:
                first = max(0, bisect.bisect_right(recent, start, key=lambda s: s.at) - 1)
            return ([idle.Sample(_when(s.at), _scaled(_raw_values(s), cpu_cores))
                     for s in recent[first:]], self.interval)
        return self._series[kernel_id].samples(cpu_cores, start), self.bucket


def requested_resources(slots: Mapping[str, object]) -> frozenset[str]:
    """The idle resources a session with these requested slots is checked on: cpu and mem
    always, accel and accel_mem when it holds accelerator slots (any slot other than cpu and
    mem)."""
    accelerated = any(name not in ("cpu", "mem", "shmem") for name in slots)
    return frozenset((CPU, MEM, ACCEL, ACCEL_MEM) if accelerated else (CPU, MEM))
