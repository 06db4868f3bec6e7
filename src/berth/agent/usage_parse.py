"""The pure half of live usage (:mod:`berth.agent.usage`): parsing a kernel's cgroup and
network counter files, where a container's cgroup lives, and what two readings mean (CPU
percent and rates from counter deltas, resets included). No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from berth.agent.accelerators.base import KernelStats

#: Most bytes read from one cgroup file (the largest, ``io.stat``, has a line per device).
CGROUP_READ_LIMIT = 64 * 1024
#: Most bytes read from ``net/dev`` (about 2,000 interfaces); a longer file is refused, so
#: that the network counters show as unknown rather than as a partial sum.
NET_DEV_READ_LIMIT = 256 * 1024
#: cgroup v1 shows "no limit" as a page-aligned LONG_MAX; at or above this means no limit.
UNLIMITED = 2**62
#: Samples kept per kernel by default (five minutes at one sample every 5 s).
DEFAULT_WINDOW = 60
#: Counters longer than this many digits are not counters (a u64 has at most 20).
_MAX_DIGITS = 20
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
_CGROUP_PARENT = re.compile(r"[A-Za-z0-9_.@:/-]{0,255}")


class UsageUnavailable(RuntimeError):
    """This host offers no cgroup hierarchy the reader understands (message says why)."""


# ---- pure: parsing the kernel's files -------------------------------------------------------

def parse_counter(token: str) -> int | None:
    """A non-negative decimal counter, or None for anything else (signs, spaces inside,
    more than 20 digits)."""
    token = token.strip()
    if not token or len(token) > _MAX_DIGITS or not token.isascii() or not token.isdigit():
        return None
    return int(token)


def parse_limit(text: str) -> int | None:
    """A memory limit file (``memory.max``, ``memory.limit_in_bytes``): bytes, or None for
    no limit (``max``, or v1's huge stand-in at or above :data:`UNLIMITED`) or bad text."""
    value = parse_counter(text)
    return None if value is None or value >= UNLIMITED else value


def _key_values(text: str, key: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return parse_counter(parts[1])
    return None


def parse_cpu_stat(text: str) -> int | None:
    """``usage_usec`` of a cgroup v2 ``cpu.stat`` (CPU time in µs), None when absent."""
    return _key_values(text, "usage_usec")


def parse_io_stat(text: str) -> tuple[int, int]:
    """(read bytes, written bytes) of a cgroup v2 ``io.stat``, summed over its devices
    (lines ``MAJ:MIN rbytes=.. wbytes=.. ...``). Malformed lines or fields are skipped; an
    empty file (no I/O yet) is (0, 0)."""
    read = written = 0
    for line in text.splitlines():
        for field_ in line.split()[1:]:
            key, _, value = field_.partition("=")
            if key in ("rbytes", "wbytes") and (n := parse_counter(value)) is not None:
                if key == "rbytes":
                    read += n
                else:
                    written += n
    return read, written


def parse_blkio(text: str) -> tuple[int, int]:
    """(read bytes, written bytes) of a cgroup v1 ``blkio.throttle.io_service_bytes*``
    (lines ``MAJ:MIN Read N`` / ``Write N``; ``Total`` lines are not added). Malformed lines
    are skipped; an empty file is (0, 0)."""
    read = written = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        n = parse_counter(parts[2])
        if n is None:
            continue
        if parts[1] == "Read":
            read += n
        elif parts[1] == "Write":
            written += n
    return read, written


def parse_net_dev(text: str) -> tuple[int, int] | None:
    """(received, transmitted) bytes of a ``/proc/<pid>/net/dev``, summed over every
    interface but ``lo``; None when no interface line could be read. Lines that are not
    ``name: 16 counters`` are skipped (interface names are the container's choice but hold no
    colon or white space)."""
    rx = tx = 0
    seen = False
    for line in text.splitlines():
        name, colon, rest = line.partition(":")
        if not colon:
            continue
        fields = rest.split()
        if len(fields) < 16:
            continue
        received, sent = parse_counter(fields[0]), parse_counter(fields[8])
        if received is None or sent is None:
            continue
        seen = True
        if name.strip() != "lo":
            rx += received
            tx += sent
    return (rx, tx) if seen else None


# ---- pure: where a container's cgroup is --------------------------------------------------

@dataclass(frozen=True)
class CgroupLayout:
    """Where this host mounts the cgroup controllers the reader needs. ``version`` 2: one
    unified hierarchy (all three paths are its mount point); 1: the ``cpuacct``, ``memory``
    and ``blkio`` controllers' mount points, None for one that is not mounted (its figures
    are then unknown)."""

    version: Literal[1, 2]
    cpu: Path | None
    memory: Path | None
    io: Path | None


def _unescape_mount(path: str) -> str:
    """/proc/self/mounts writes space, tab, newline and backslash in octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def layout_from_mounts(mounts: str) -> CgroupLayout | None:
    """The layout described by ``/proc/self/mounts`` text; None when neither a v1
    ``memory`` controller nor a v2 hierarchy is mounted. A v1 ``memory`` mount wins over a
    v2 one (on hybrid hosts the v2 mount holds no controller)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        where, fstype, options = Path(_unescape_mount(parts[1])), parts[2], parts[3].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = where
        elif fstype == "cgroup":
            for controller in ("cpuacct", "memory", "blkio"):
                if controller in options:
                    v1.setdefault(controller, where)
    if "memory" in v1:
        return CgroupLayout(1, v1.get("cpuacct"), v1["memory"], v1.get("blkio"))
    if v2 is not None:
        return CgroupLayout(2, v2, v2, v2)
    return None


def _systemd_slice_path(unit: str) -> str:
    """systemd nests ``a-b.slice`` in ``a.slice``: ``a-b-c.slice`` is
    ``a.slice/a-b.slice/a-b-c.slice`` (``-.slice`` is the root)."""
    stem = unit.removesuffix(".slice")
    if stem in ("", "-"):
        return ""
    parts = stem.split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def cgroup_candidates(container_id: str, cgroup_parent: str = "") -> list[str]:
    """The cgroup directories (relative to a hierarchy's mount point) where the engine may
    have put ``container_id``, most likely first. ``cgroup_parent`` is the container's
    ``HostConfig.CgroupParent`` ("" for the engine's default). Raises :class:`ValueError`
    for an id that is not 64 hex digits or a parent with ``..`` or unusual characters, so
    that no text can lead the reader out of the cgroup mount."""
    if not _CONTAINER_ID.fullmatch(container_id):
        raise ValueError(f"not a full container id: {container_id[:80]!r}")
    if not _CGROUP_PARENT.fullmatch(cgroup_parent) or ".." in cgroup_parent.split("/"):
        raise ValueError(f"unusual cgroup parent: {cgroup_parent[:80]!r}")
    if not cgroup_parent:
        return [f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"]
    if cgroup_parent.endswith(".slice") and "/" not in cgroup_parent:
        parent = _systemd_slice_path(cgroup_parent)
        return [f"{parent}/docker-{container_id}.scope".lstrip("/")]
    return [f"{cgroup_parent.strip('/')}/{container_id}"]


# ---- pure: what two readings mean ---------------------------------------------------------

@dataclass(frozen=True)
class Counters:
    """One kernel's raw readings at one moment. ``mono`` is the monotonic clock (seconds)
    and ``at`` the wall clock (Unix seconds) when they were read; cumulative counters in µs
    of CPU and bytes; None where a figure could not be read."""

    mono: float
    at: float
    cpu_usec: int | None = None
    mem_bytes: int | None = None
    mem_limit: int | None = None
    io_read: int | None = None
    io_write: int | None = None
    net_rx: int | None = None
    net_tx: int | None = None


@dataclass(frozen=True)
class Sample:
    """A kernel's usage at ``at`` (Unix seconds). ``cpu_percent`` is percent of one core
    since the previous sample (two busy cores: 200); memory in bytes (``mem_limit`` None:
    no limit); ``net_*`` and ``io_*`` are cumulative bytes since the container started and
    ``*_rate`` bytes per second since the previous sample; ``accel_*`` what the accelerator
    plugin reports for the kernel (utilization in percent, memory in bytes) and
    ``accel_mem_limit`` the accelerator memory it holds (bytes; the agent adds it). None:
    unknown (first sample, a counter that went back, a file that could not be read)."""

    at: float
    cpu_percent: float | None
    mem_bytes: int | None
    mem_limit: int | None
    net_rx: int | None
    net_tx: int | None
    io_read: int | None
    io_write: int | None
    net_rx_rate: float | None = None
    net_tx_rate: float | None = None
    io_read_rate: float | None = None
    io_write_rate: float | None = None
    accel_percent: float | None = None
    accel_mem_bytes: int | None = None
    accel_mem_limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rate(previous: int | None, current: int | None, seconds: float) -> float | None:
    """Increase per second of a cumulative counter; None when either reading is unknown,
    no time passed, or the counter went back (a reset: the container restarted, an
    interface went away), since then nothing is known about the interval."""
    if previous is None or current is None or seconds <= 0 or current < previous:
        return None
    return (current - previous) / seconds


def cpu_percent(previous_usec: int | None, current_usec: int | None,
                seconds: float) -> float | None:
    """Percent of one core used between two readings of cumulative CPU µs taken
    ``seconds`` apart (None as for :func:`rate`)."""
    per_second = rate(previous_usec, current_usec, seconds)
    return None if per_second is None else per_second / 10_000


def derive(previous: Counters | None, current: Counters,
           accelerator: KernelStats | None = None) -> Sample:
    """The sample of ``current``, with CPU percent and rates against ``previous`` (None:
    no earlier reading, so those are None). Pure."""
    seconds = current.mono - previous.mono if previous else 0.0
    p = previous or Counters(current.mono, current.at)
    return Sample(
        at=current.at,
        cpu_percent=cpu_percent(p.cpu_usec, current.cpu_usec, seconds),
        mem_bytes=current.mem_bytes, mem_limit=current.mem_limit,
        net_rx=current.net_rx, net_tx=current.net_tx,
        io_read=current.io_read, io_write=current.io_write,
        net_rx_rate=rate(p.net_rx, current.net_rx, seconds),
        net_tx_rate=rate(p.net_tx, current.net_tx, seconds),
        io_read_rate=rate(p.io_read, current.io_read, seconds),
        io_write_rate=rate(p.io_write, current.io_write, seconds),
        accel_percent=accelerator.utilization if accelerator else None,
        accel_mem_bytes=accelerator.mem_used if accelerator else None,
    )
