"""Live usage per kernel (CPU, memory, disk I/O, network, accelerators), read from the
kernel's cgroup and its network counters instead of the engine's stats API.

Three layers, from pure to I/O (the pure one in :mod:`berth.agent.usage_parse`):

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
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.agent.accelerators.base import KernelStats
from berth.agent.usage_parse import (
    CGROUP_READ_LIMIT,
    DEFAULT_WINDOW,
    NET_DEV_READ_LIMIT,
    CgroupLayout,
    Counters,
    Sample,
    UsageUnavailable,
    cgroup_candidates,
    derive,
    layout_from_mounts,
    parse_blkio,
    parse_counter,
    parse_cpu_stat,
    parse_io_stat,
    parse_limit,
    parse_net_dev,
)

log = logging.getLogger(__name__)

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
