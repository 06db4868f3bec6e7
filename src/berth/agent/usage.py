"""Live usage per kernel (CPU, memory, disk I/O, network, accelerators), read from the
kernel's cgroup and its network counters instead of the engine's stats API.

Three layers, from pure to I/O:

* **Pure**: the parsers of the kernel's files (:func:`parse_cpu_stat`, :func:`parse_io_stat`,
  :func:`parse_blkio`, :func:`parse_net_dev`, ...), where the cgroup of a container lives
  (:func:`layout_from_mounts`, :func:`cgroup_candidates`), and what a pair of readings means
  (:func:`derive`: CPU percent and rates from counter deltas, resets included).
* **Reading** (:class:`CgroupReader`): opens and reads the files of one container, bounded.
* **Tracking** (:class:`UsageTracker`): one rolling window of :class:`Sample` per kernel,
  sampled for all kernels at once by :meth:`UsageTracker.sample_all`.

Containers are hostile. The agent reads as root, so it only opens files the kernel writes
and the container cannot replace: the container's cgroup directories under the agent's own
cgroup mounts (found from the container's id and the ``CgroupParent`` the agent set, never
from what the container writes), and ``/proc/<pid>/net/dev`` of the container's init process,
opened relative to a descriptor of ``/proc/<pid>`` that was checked to belong to the
container (such a descriptor keeps pointing at the dead process when the pid is reused, so
a later process can never be read in the container's stead). Nothing inside the container's
root filesystem is opened; the last path component is never followed if it is a link; every
file is read up to a bound (a container with ``NET_ADMIN`` can make ``net/dev`` as long as it
likes) and refused past it.

Assumptions: the agent runs in the host's PID and cgroup namespaces (as the engine does); the
engine's cgroup driver is ``cgroupfs`` (``<parent or /docker>/<id>``) or ``systemd``
(``system.slice/docker-<id>.scope``); cgroup v2 (unified) or v1 with the ``cpuacct``,
``memory`` and ``blkio`` controllers mounted (hybrid hosts use v1, whose controllers are the
ones that count).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from berth.agent.accelerators.base import KernelStats

log = logging.getLogger(__name__)

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
    plugin reports for the kernel (utilization in percent, memory in bytes). None: unknown
    (first sample, a counter that went back, a file that could not be read)."""

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


# ---- reading ------------------------------------------------------------------------------

class _TooLarge(Exception):
    pass


_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
#: Errors that mean "this file or process is gone" (the container stopped or was removed).
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.ENOTDIR)


def read_bounded(path: str, limit: int, dir_fd: int | None = None) -> str | None:
    """The text of ``path`` (relative to ``dir_fd`` if given), at most ``limit`` bytes;
    None when it does not exist (any more), or its process is gone. Never follows a link in
    the last component, never blocks on a pipe. Raises :class:`_TooLarge` past ``limit``
    and :class:`OSError` for other failures."""
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    finally:
        os.close(fd)
    if size > limit:
        raise _TooLarge(path)
    return b"".join(chunks).decode("ascii", "replace")


@dataclass(frozen=True)
class ContainerInfo:
    """What the engine's inspect says about a kernel's container: its full ``id``, the pid
    of its init process on the host (0: not running), its ``CgroupParent`` and its
    ``NetworkMode`` (``host`` or ``container:<id>``: the network counters are not the
    kernel's own, so they are not read)."""

    id: str
    pid: int
    cgroup_parent: str = ""
    network_mode: str = ""

    @property
    def shares_network(self) -> bool:
        return self.network_mode == "host" or self.network_mode.startswith("container:")


@dataclass
class KernelHandle:
    """A container opened for reading by :meth:`CgroupReader.open`: its cgroup directories
    (None: not found) and a descriptor of its ``/proc/<pid>`` (None: not running, or not
    verified to be the container's). ``stale``: something vanished since it was opened (the
    container stopped or restarted), so it should be opened again from a fresh inspect."""

    container_id: str
    cpu_dir: str | None = None
    memory_dir: str | None = None
    io_dir: str | None = None
    proc_fd: int | None = None
    net_shared: bool = False
    stale: bool = False
    refused: set[str] = field(default_factory=set)


class CgroupReader:
    """Reads containers' counters from ``layout``'s cgroup hierarchies and ``proc_root``
    (``/proc``; tests give a directory of their own). Not thread-safe per handle: one
    handle is read by one thread at a time. Methods never raise for a container that
    vanished; what cannot be read shows as None."""

    def __init__(self, layout: CgroupLayout, proc_root: Path = Path("/proc")) -> None:
        self.layout = layout
        self.proc_root = proc_root
        self._own_netns = self._netns_of(str(proc_root / "self" / "ns" / "net"), None)

    @classmethod
    def for_host(cls) -> CgroupReader:
        """A reader of this host's cgroups (from ``/proc/self/mounts``). Raises
        :class:`UsageUnavailable` where none is mounted."""
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError as e:
            raise UsageUnavailable(f"cannot read /proc/self/mounts: {e}") from e
        layout = layout_from_mounts(mounts)
        if layout is None:
            raise UsageUnavailable(
                "no cgroup hierarchy: neither cgroup v2 nor a cgroup v1 memory controller is "
                "mounted, so kernels' CPU, memory and I/O cannot be read")
        return cls(layout)

    @staticmethod
    def _netns_of(path: str, dir_fd: int | None) -> tuple[int, int] | None:
        try:
            st = os.stat(path, dir_fd=dir_fd)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _find_dir(self, root: Path | None, candidates: list[str]) -> str | None:
        if root is None:
            return None
        for relative in candidates:
            path = root / relative
            try:
                if os.lstat(path).st_mode & 0o170000 == 0o040000:  # a directory, not a link
                    return str(path)
            except OSError:
                continue
        return None

    def _open_proc(self, info: ContainerInfo) -> int | None:
        """A descriptor of ``/proc/<pid>`` if that process is in the container's cgroup."""
        if info.pid <= 0:
            return None
        try:
            fd = os.open(str(self.proc_root / str(info.pid)),
                         os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            membership = read_bounded("cgroup", CGROUP_READ_LIMIT, dir_fd=fd)
        except (OSError, _TooLarge):
            membership = None
        if membership is None or info.id not in membership:
            os.close(fd)  # the pid was reused (or the process is gone): not the container
            return None
        return fd

    def open(self, info: ContainerInfo) -> KernelHandle:
        """Find ``info``'s cgroup directories and open its init process. Raises
        :class:`ValueError` for an id or cgroup parent that cannot be the engine's (see
        :func:`cgroup_candidates`). The handle holds a descriptor: :meth:`close` it."""
        candidates = cgroup_candidates(info.id, info.cgroup_parent)
        handle = KernelHandle(info.id, self._find_dir(self.layout.cpu, candidates),
                              self._find_dir(self.layout.memory, candidates),
                              self._find_dir(self.layout.io, candidates))
        handle.proc_fd = self._open_proc(info)
        handle.net_shared = info.shares_network
        if handle.proc_fd is not None:
            # The agent's own network namespace (the host's): its counters are not the kernel's.
            netns = self._netns_of("ns/net", handle.proc_fd)
            handle.net_shared |= netns is not None and netns == self._own_netns
        handle.stale = handle.cpu_dir is None or handle.proc_fd is None
        return handle

    @staticmethod
    def close(handle: KernelHandle) -> None:
        """Release the handle's descriptor. Idempotent."""
        if handle.proc_fd is not None:
            os.close(handle.proc_fd)
            handle.proc_fd = None

    def _text(self, handle: KernelHandle, directory: str | None, name: str, *,
              limit: int = CGROUP_READ_LIMIT, dir_fd: int | None = None,
              vital: bool = False) -> str | None:
        """The file's text or None; ``vital``: its vanishing means the container stopped
        or restarted (marks the handle stale). Other files may be missing for good (a v2
        controller not enabled for the container's cgroup)."""
        if directory is None and dir_fd is None:
            return None
        path = name if dir_fd is not None else f"{directory}/{name}"
        try:
            text = read_bounded(path, limit, dir_fd=dir_fd)
        except _TooLarge:
            if name not in handle.refused:  # once per kernel and file: it is the kernel's doing
                handle.refused.add(name)
                log.warning("usage: container %s: %s is over %d bytes; not read",
                            handle.container_id[:12], name, limit)
            return None
        except OSError as e:
            log.debug("usage: container %s: %s: %s", handle.container_id[:12], name, e)
            return None
        if text is None and vital:
            handle.stale = True
        return text

    def read(self, handle: KernelHandle, clock: Callable[[], float] = time.monotonic,
             wall: Callable[[], float] = time.time) -> Counters:
        """The container's counters now (None for what could not be read; a vanished file
        marks the handle stale). Never raises for a container that is gone."""
        mono, at = clock(), wall()
        v2 = self.layout.version == 2
        cpu = mem = limit = io_read = io_write = rx = tx = None
        if (text := self._text(handle, handle.cpu_dir, "cpu.stat" if v2 else "cpuacct.usage",
                               vital=True)) is not None:
            if v2:
                cpu = parse_cpu_stat(text)
            elif (ns := parse_counter(text)) is not None:
                cpu = ns // 1000
        mem_names = ("memory.current", "memory.max") if v2 else (
            "memory.usage_in_bytes", "memory.limit_in_bytes")
        if (text := self._text(handle, handle.memory_dir, mem_names[0])) is not None:
            mem = parse_counter(text)
            if (text := self._text(handle, handle.memory_dir, mem_names[1])) is not None:
                limit = parse_limit(text)
        io_name = "io.stat" if v2 else "blkio.throttle.io_service_bytes_recursive"
        if (text := self._text(handle, handle.io_dir, io_name)) is not None:
            io_read, io_write = parse_io_stat(text) if v2 else parse_blkio(text)
        if handle.proc_fd is not None and not handle.net_shared:
            text = self._text(handle, None, "net/dev", limit=NET_DEV_READ_LIMIT,
                              dir_fd=handle.proc_fd, vital=True)
            if text is not None and (net := parse_net_dev(text)) is not None:
                rx, tx = net
        return Counters(mono, at, cpu, mem, limit, io_read, io_write, rx, tx)


# ---- tracking -----------------------------------------------------------------------------

Inspect = Callable[[str], Awaitable[ContainerInfo | None]]


def docker_inspector(docker: Any) -> Inspect:
    """An :data:`Inspect` through an ``aiodocker.Docker``: the container's info, None when
    the engine does not know it. Raises the engine's other errors."""
    from aiodocker.exceptions import DockerError

    async def inspect(ref: str) -> ContainerInfo | None:
        try:
            data = await docker.containers.container(ref).show()
        except DockerError as e:
            if e.status == 404:
                return None
            raise
        state = data.get("State") or {}
        pid = int(state.get("Pid") or 0) if state.get("Running") else 0
        host_config = data.get("HostConfig") or {}
        return ContainerInfo(str(data["Id"]), pid, str(host_config.get("CgroupParent") or ""),
                             str(host_config.get("NetworkMode") or ""))

    return inspect


@dataclass
class _Kernel:
    ref: str
    samples: deque[Sample]
    handle: KernelHandle | None = None
    inspected_at: float = float("-inf")
    last: Counters | None = None


class UsageTracker:
    """A rolling window of :class:`Sample` per kernel.

    ``inspect`` tells a container's pid and cgroup parent (:func:`docker_inspector`); it is
    called for a kernel when it is first sampled and again (at most every
    ``reinspect_interval`` s) after its container stopped or restarted; otherwise each
    sample only reads files: the work of :meth:`sample_all` is proportional to the number of
    kernels. ``in_thread``: the file reading runs in a worker thread (one hop per call),
    else on the event loop (measured in benchmarks/bench_usage.py: ~70 µs of CPU per kernel
    either way; the thread keeps the loop free). ``window``: samples kept per kernel. Calls
    to :meth:`sample_all` from several tasks queue on a lock. Without ``reader``, this
    host's cgroups are used; raises :class:`UsageUnavailable` where there are none.
    """

    def __init__(self, inspect: Inspect, reader: CgroupReader | None = None, *,
                 window: int = DEFAULT_WINDOW, in_thread: bool = True,
                 reinspect_interval: float = 10.0, inspect_concurrency: int = 8,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._inspect = inspect
        self._reader = reader if reader is not None else CgroupReader.for_host()
        self._window = window
        self._in_thread = in_thread
        self._reinspect_interval = reinspect_interval
        self._inspect_slots = asyncio.Semaphore(inspect_concurrency)
        self._clock = clock
        self._wall = wall
        self._kernels: dict[str, _Kernel] = {}
        self._lock = asyncio.Lock()
        #: The kernels a worker thread is reading now: their handles are only released
        #: once it is done (a descriptor closed under it could be reused by another file).
        self._in_flight: dict[str, _Kernel] = {}

    async def sample_all(self, kernels: Mapping[str, str],
                         accelerators: Mapping[str, KernelStats] | None = None
                         ) -> dict[str, Sample]:
        """Sample every kernel of ``kernels`` (kernel id -> its container's id or name) and
        add each sample to the kernel's window; ``accelerators`` (by kernel id, from the
        accelerator plugin's ``stats()``) fills ``accel_*``. Returns a sample for each
        kernel given, with None for what could not be read (a container that is gone shows
        all None). Kernels not given keep their windows (see :meth:`forget`). Raises only
        for a programming error; engine errors during inspect are logged and the kernel is
        tried again later."""
        async with self._lock:
            current = self._current(kernels)
            now = self._clock()
            due = [(kernel_id, kernel) for kernel_id, kernel in current
                   if (kernel.handle is None or kernel.handle.stale)
                   and now - kernel.inspected_at >= self._reinspect_interval]
            found = await asyncio.gather(*(self._info(k, kernel) for k, kernel in due))
            infos = dict(zip((k for k, _ in due), found, strict=True))
            jobs = [(kernel_id, kernel, infos.get(kernel_id), kernel_id in infos)
                    for kernel_id, kernel in current]
            counters = await self._read_jobs(jobs)
            out: dict[str, Sample] = {}
            for (kernel_id, kernel), reading in zip(current, counters, strict=True):
                sample = derive(kernel.last, reading, (accelerators or {}).get(kernel_id))
                out[kernel_id] = sample
                if self._kernels.get(kernel_id) is kernel:  # not forgotten meanwhile
                    kernel.last = reading
                    kernel.samples.append(sample)
            return out

    def _current(self, kernels: Mapping[str, str]) -> list[tuple[str, _Kernel]]:
        """The tracked state of each of ``kernels``; a kernel whose container changed
        starts afresh."""
        current = []
        for kernel_id, ref in kernels.items():
            kernel = self._kernels.get(kernel_id)
            if kernel is None or kernel.ref != ref:
                if kernel is not None:
                    self._release(kernel)
                kernel = _Kernel(ref, deque(maxlen=self._window))
                self._kernels[kernel_id] = kernel
            current.append((kernel_id, kernel))
        return current

    async def _read_jobs(self, jobs: list[tuple[str, _Kernel, ContainerInfo | None, bool]]
                         ) -> list[Counters]:
        self._in_flight = {kernel_id: kernel for kernel_id, kernel, _, _ in jobs}
        try:
            if not self._in_thread:
                return self._read_all(jobs)
            reading = asyncio.ensure_future(asyncio.to_thread(self._read_all, jobs))
            try:
                return await asyncio.shield(reading)
            except asyncio.CancelledError:
                # A thread cannot be stopped: its descriptors stay open until it is done.
                await asyncio.wait([reading])
                raise
        finally:
            done, self._in_flight = self._in_flight, {}
            for kernel_id, kernel in done.items():
                if self._kernels.get(kernel_id) is not kernel:  # forgotten meanwhile
                    self._release(kernel)

    async def _info(self, kernel_id: str, kernel: _Kernel) -> ContainerInfo | None:
        kernel.inspected_at = self._clock()
        async with self._inspect_slots:
            try:
                return await self._inspect(kernel.ref)
            except Exception as e:  # noqa: BLE001 - the engine's errors: try again later
                log.warning("usage: kernel %s: inspect of %s failed: %s", kernel_id,
                            kernel.ref, e)
                return None

    def _read_all(self, jobs: Iterable[tuple[str, _Kernel, ContainerInfo | None, bool]]
                  ) -> list[Counters]:
        out = []
        for kernel_id, kernel, info, inspected in jobs:
            if inspected:
                if kernel.handle is not None:
                    self._reader.close(kernel.handle)
                    kernel.handle = None
                if info is not None:
                    try:
                        kernel.handle = self._reader.open(info)
                    except ValueError as e:
                        log.warning("usage: kernel %s: %s", kernel_id, e)
            if kernel.handle is None:
                out.append(Counters(self._clock(), self._wall()))
            else:
                out.append(self._reader.read(kernel.handle, self._clock, self._wall))
        return out

    def window(self, kernel_id: str) -> list[Sample]:
        """The kernel's samples, oldest first (at most ``window``); [] for an unknown one."""
        kernel = self._kernels.get(kernel_id)
        return list(kernel.samples) if kernel else []

    def latest(self, kernel_id: str) -> Sample | None:
        """The kernel's newest sample, None before its first."""
        kernel = self._kernels.get(kernel_id)
        return kernel.samples[-1] if kernel and kernel.samples else None

    def kernels(self) -> list[str]:
        """The kernel ids with a window (sampled and not forgotten)."""
        return list(self._kernels)

    def _release(self, kernel: _Kernel) -> None:
        if kernel.handle is not None:
            self._reader.close(kernel.handle)
            kernel.handle = None

    def forget(self, kernel_id: str) -> None:
        """Drop the kernel's window and release what it holds (call when its container is
        removed). Idempotent; safe while :meth:`sample_all` runs (its sample for the kernel
        is then returned but not kept)."""
        kernel = self._kernels.pop(kernel_id, None)
        if kernel is not None and self._in_flight.get(kernel_id) is not kernel:
            self._release(kernel)

    def close(self) -> None:
        """Forget every kernel. Idempotent."""
        for kernel_id in list(self._kernels):
            self.forget(kernel_id)
