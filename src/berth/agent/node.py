"""The agent's own logic: kernels on this node, their scratch homes, logs and reports.

Thin over a :class:`ContainerBackend`; all decisions about sessions are the manager's. After a
restart :meth:`Node.start` re-adopts the containers it finds by their labels, so a running
kernel keeps running and an exited one is reported with its exit code, and what its kernels
hold of accelerators is read back from their containers' labels (:class:`Accelerators`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from berth.agent.apps import ssh_key_script
from berth.agent.backends.base import (
    CLUSTER_SSH_PORT,
    BackendError,
    ContainerBackend,
    ContainerStatus,
    Exec,
    LogSource,
)
from berth.agent.devices import Accelerators
from berth.rpc import (
    ClusterSpec,
    CreateKernel,
    DestroyResult,
    EventKind,
    Heartbeat,
    HeartbeatReply,
    KernelEvent,
    KernelReport,
    KernelState,
)

log = logging.getLogger(__name__)
KERNEL_UID = 1000
#: Seconds generating a kernel's SSH key may take (ssh-keygen needs well under one).
SSH_KEY_TIMEOUT = 15.0


def check_mounts(spec: CreateKernel) -> None:
    """Every folder to mount is an absolute path to a real directory on this node (not a
    symbolic link); else BackendError naming it (a folder host not mounted on this node)."""
    for mount in spec.mounts:
        path = Path(mount.source)
        try:
            ok = path.is_absolute() and stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            ok = False
        if not ok:
            raise BackendError(f"folder for {mount.target} is not a directory on this node: "
                               f"{mount.source} (is its folder host mounted here?)")


def _own(path: Path, mode: int) -> None:
    path.chmod(mode)
    with contextlib.suppress(PermissionError):  # an agent not run as root: left as it is
        os.chown(path, KERNEL_UID, KERNEL_UID)


def write_cluster_ssh(home: Path, cluster: ClusterSpec) -> None:
    """Put the session's cluster key into a kernel's home before it starts:
    ``~/.ssh/id_cluster`` (+ ``.pub``), its public half in ``authorized_keys``, and an
    ``~/.ssh/config`` that uses it for the other kernels (``Host main1 sub*``, on the port of
    the kernels' own sshd), so ``ssh sub1`` works at once without a password."""
    ssh = home / ".ssh"
    ssh.mkdir(exist_ok=True)
    _own(ssh, 0o700)
    hosts = " ".join(dict.fromkeys(["main1", "sub*", *cluster.hostnames]))
    files = {
        "id_cluster": (cluster.ssh_private_key.rstrip("\n") + "\n", 0o600),
        "id_cluster.pub": (cluster.ssh_public_key.strip() + "\n", 0o644),
        "authorized_keys": (cluster.ssh_public_key.strip() + "\n", 0o600),
        "config": (
            f"Host {hosts}\n    IdentityFile ~/.ssh/id_cluster\n    Port {CLUSTER_SSH_PORT}\n"
            "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n"
            "    LogLevel ERROR\n", 0o600),
    }
    for name, (text, mode) in files.items():
        path = ssh / name
        path.write_text(text)
        _own(path, mode)


@runtime_checkable
class Networks(Protocol):
    """Optional backend capability: per-session private networks for cluster sessions."""

    async def release_network(self, session_id: str) -> None: ...

    async def sweep_networks(self) -> None: ...


class Reporter(Protocol):
    async def event(self, event: KernelEvent) -> None:
        """Deliver an event to the manager; failures are logged, not raised."""
        ...


def report_of(status: ContainerStatus) -> KernelReport:
    return KernelReport(
        kernel_id=status.kernel_id,
        session_id=status.session_id,
        state=KernelState.RUNNING if status.running else KernelState.EXITED,
        container_id=status.container_id,
        exit_code=status.exit_code,
        oom_killed=status.oom_killed,
        app_ports=status.app_ports,
        accelerators=status.accelerators,
    )


@dataclass(frozen=True)
class BeatKernels:
    """What one heartbeat says of the kernels (:meth:`BeatBuilder.next`)."""

    seq: int
    #: None: a full beat; else the acknowledged beat ``kernels`` and ``gone`` are relative to.
    base: int | None
    kernels: list[KernelReport]
    gone: list[str]
    kernel_count: int
    #: Why a full beat is full ("first", "asked", "failed post", "every N", "no ack").
    why: str = ""


class BeatBuilder:
    """Which kernels the agent's heartbeats carry: every kernel (a full beat), or only what
    changed since the beat the manager last acknowledged (a delta; see :class:`Heartbeat`).

    No I/O. Call :meth:`next` with every kernel's report to build a beat, then exactly one
    of :meth:`answered` (the manager's reply) or :meth:`failed` (no usable reply) before the
    next one. A beat is full when nothing of this epoch is acknowledged, after a failed post,
    when the manager asked for one, and every ``full_every`` beats; the rest are deltas.
    A delta costs one comparison per kernel (no serialisation of unchanged reports)."""

    def __init__(self, full_every: int = 60, epoch: str | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(8)
        self.full_every = max(1, full_every)
        self.seq = 0
        self._last_full = 0
        #: (seq, kernel id -> report) of the newest beat the manager acknowledged.
        self._acked: tuple[int, dict[str, KernelReport]] | None = None
        #: The same of the beat sent last, until its answer.
        self._sent: tuple[int, dict[str, KernelReport]] | None = None
        self._why_full = "first"

    def next(self, reports: list[KernelReport]) -> BeatKernels:
        self.seq += 1
        now = {r.kernel_id: r for r in reports}
        self._sent = (self.seq, now)
        why = self._why_full
        if not why and self._acked is None:
            why = "no ack"
        if not why and self.seq - self._last_full >= self.full_every:
            why = f"every {self.full_every}"
        if why:
            self._why_full = ""
            self._last_full = self.seq
            return BeatKernels(self.seq, None, list(now.values()), [], len(now), why)
        assert self._acked is not None
        base, before = self._acked
        # The models' fields compared directly: a third of the cost of their __eq__.
        changed = [r for k, r in now.items()
                   if (old := before.get(k)) is None or old.__dict__ != r.__dict__]
        gone = [k for k in before if k not in now]
        return BeatKernels(self.seq, base, changed, gone, len(now))

    def answered(self, reply: HeartbeatReply) -> bool:
        """Take the manager's reply to the beat sent last; returns whether to send the next
        beat at once (the manager refused a delta and wants a full beat)."""
        sent, self._sent = self._sent, None
        if sent is not None and reply.ack == sent[0]:
            self._acked = sent
        elif self._acked is None or reply.ack != self._acked[0]:
            self._acked = None  # the manager holds none of the beats this agent remembers
        if not reply.full:
            return False
        self._why_full = "asked"
        # A full beat answered "full" waits for the interval: never a tight loop.
        return sent is not None and sent[0] != self._last_full

    def failed(self) -> None:
        """The beat sent last got no usable answer: the next one is full."""
        self._sent = None
        self._why_full = "failed post"


class Node:
    def __init__(
        self,
        agent_id: str,
        backend: ContainerBackend,
        reporter: Reporter,
        data_dir: Path,
        devices: Accelerators | None = None,
    ) -> None:
        """``devices``: the agent's accelerators, started by the caller before :meth:`start`
        (None: none, every allocation is refused)."""
        self.agent_id = agent_id
        self.backend = backend
        self.reporter = reporter
        self.devices = devices if devices is not None else Accelerators()
        self.scratch_root = data_dir / "scratch"
        self.logs_root = data_dir / "kernel-logs"
        self.creating: dict[str, CreateKernel] = {}
        self.destroying: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Re-adopt this agent's containers: watch the running ones for their exit, and hold
        again what each container holds of accelerators (exited ones too: their devices are
        the kernel's until it is destroyed)."""
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        self.logs_root.mkdir(parents=True, exist_ok=True)
        statuses = await self.backend.list_kernels()
        self.devices.restore({s.kernel_id: s.accelerators for s in statuses if s.accelerators})
        for status in statuses:
            if status.running:
                self._spawn(status.kernel_id, self._watch(status.kernel_id))
        if isinstance(self.backend, Networks):
            try:
                await self.backend.sweep_networks()
            except Exception as e:  # a leftover network is harmless; never block the start
                log.warning("could not sweep unused session networks: %s", e)

    async def close(self) -> None:
        """Stop watching; containers keep running (an agent restart must not kill them)."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def _spawn(self, key: str, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self.tasks[key] = task
        task.add_done_callback(
            lambda t: self.tasks.pop(key, None) if self.tasks.get(key) is t else None
        )

    def scratch_dir(self, kernel_id: str) -> Path:
        return self.scratch_root / kernel_id

    def log_file(self, kernel_id: str) -> Path:
        return self.logs_root / f"{kernel_id}.log"

    def _make_scratch(self, kernel_id: str) -> Path:
        path = self.scratch_dir(kernel_id)
        path.mkdir(parents=True, exist_ok=True)
        try:
            os.chown(path, KERNEL_UID, KERNEL_UID)
        except PermissionError:  # an agent not run as root: let uid 1000 write anyway
            path.chmod(0o777)
        return path

    def accept(self, spec: CreateKernel) -> None:
        """Start creating a kernel in the background; reports started / create-failed.
        Idempotent: a kernel already being created or existing is not created twice."""
        if spec.kernel_id in self.creating or spec.kernel_id in self.tasks:
            return
        self.creating[spec.kernel_id] = spec
        self._spawn(spec.kernel_id, self._create(spec))

    async def _create(self, spec: CreateKernel) -> None:
        reserved = False
        try:
            check_mounts(spec)
            # Checked and held before anything is made: a refused allocation leaves nothing.
            devices = self.devices.reserve(spec.kernel_id, spec.accelerators)
            reserved = True
            spec = spec.model_copy(
                update={"accelerators": self.devices.allocations_json(spec.kernel_id)})
            scratch = self._make_scratch(spec.kernel_id)
            if spec.cluster is not None:
                write_cluster_ssh(scratch, spec.cluster)
            status = await self.backend.create_and_start(spec, str(scratch), devices)
        except (BackendError, OSError) as e:
            if reserved:
                self.devices.release(spec.kernel_id)
            shutil.rmtree(self.scratch_dir(spec.kernel_id), ignore_errors=True)
            if spec.cluster is not None and isinstance(self.backend, Networks):
                with contextlib.suppress(Exception):  # swept at the next start otherwise
                    await self.backend.release_network(spec.session_id)
            report = KernelReport(
                kernel_id=spec.kernel_id, session_id=spec.session_id, state=KernelState.EXITED
            )
            self.creating.pop(spec.kernel_id, None)
            await self._report(EventKind.CREATE_FAILED, report, str(e))
            return
        finally:  # also when a destroy cancels the creation: never report it as creating
            self.creating.pop(spec.kernel_id, None)
        if spec.session_type == "interactive":
            # Batch kernels publish no app ports (no SSH), and a short command may end while
            # the key is made: a heartbeat would then see it exit before it was reported
            # started, and the session would end without ever having been RUNNING.
            await self._make_ssh_key(spec.kernel_id)
        await self._report(EventKind.STARTED, report_of(status))
        await self._watch(spec.kernel_id)

    async def _make_ssh_key(self, kernel_id: str) -> None:
        """Generate the kernel's SSH key pair (``/home/work/id_container``) before it is
        reported running, so the key is in its home from the start (not only once the SSH app
        was opened). Best effort: an image without ssh-keygen, or a command that already
        ended, is logged and the kernel runs on; the SSH app makes the key then."""
        if not isinstance(self.backend, Exec):
            return
        try:
            code, output = await self.backend.exec_script(kernel_id, ssh_key_script(),
                                                          SSH_KEY_TIMEOUT)
        except (BackendError, KeyError) as e:
            log.warning("kernel %s: no SSH key made at start: %s", kernel_id, e)
            return
        if code != 0:
            log.warning("kernel %s: no SSH key made at start (exit %s): %s", kernel_id, code,
                        output.strip()[-300:])

    async def _watch(self, kernel_id: str) -> None:
        status = await self.backend.wait(kernel_id)
        if status is not None and kernel_id not in self.destroying:
            await self._report(EventKind.EXITED, report_of(status))

    async def _report(
        self, kind: EventKind, report: KernelReport, error: str | None = None
    ) -> None:
        await self.reporter.event(
            KernelEvent(agent_id=self.agent_id, kind=kind, kernel=report, error=error)
        )

    async def destroy(self, kernel_id: str, grace: float = 10.0) -> DestroyResult:
        """Stop the kernel, keep its logs, remove the container and the scratch home.
        Idempotent; safe after a restart and for kernels that never existed."""
        lock = self.locks.setdefault(kernel_id, asyncio.Lock())
        async with lock:
            try:
                return await self._destroy(kernel_id, grace)
            finally:
                self.locks.pop(kernel_id, None)

    async def _destroy(self, kernel_id: str, grace: float) -> DestroyResult:
        self.destroying.add(kernel_id)
        try:
            status = await self.backend.stop(kernel_id, grace)
            if status is not None:
                await self._save_logs(kernel_id)
                await self.backend.remove(kernel_id)
            task = self.tasks.get(kernel_id)
            if task is not None:
                task.cancel()
            # Only once the container is gone (or never was): its devices are free now.
            self.devices.release(kernel_id)
            shutil.rmtree(self.scratch_dir(kernel_id), ignore_errors=True)
        finally:
            self.destroying.discard(kernel_id)
        return DestroyResult(
            kernel_id=kernel_id,
            existed=status is not None,
            exit_code=status.exit_code if status else None,
        )

    async def _save_logs(self, kernel_id: str) -> None:
        if not isinstance(self.backend, LogSource):
            return
        path = self.log_file(kernel_id)
        partial = path.with_suffix(".partial")
        try:
            with partial.open("wb") as f:
                async for chunk in self.backend.logs(kernel_id, follow=False, tail=None):
                    f.write(chunk)
            partial.replace(path)  # readers never see a half-written file
        except KeyError:
            partial.unlink(missing_ok=True)

    async def logs(self, kernel_id: str, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """Live logs while the container exists, the saved file after. KeyError if neither."""
        if isinstance(self.backend, LogSource):
            try:
                async for chunk in self.backend.logs(kernel_id, follow, tail):
                    yield chunk
                return
            except KeyError:
                pass
        path = self.log_file(kernel_id)
        if not path.exists():
            raise KeyError(kernel_id)
        data = path.read_bytes()
        if tail:
            data = b"\n".join(data.split(b"\n")[-tail - 1 :])
        yield data

    async def kernel_reports(self) -> list[KernelReport]:
        """Every kernel on this node. The in-progress set is read before the engine's list,
        so a kernel whose creation finishes in between is in one of the two."""
        creating = dict(self.creating)
        reports = {}
        for status in await self.backend.list_kernels():
            in_progress = status.kernel_id in creating or status.kernel_id in self.creating
            if not status.started and in_progress:
                continue  # being started right now: reported as CREATING below
            # A container never started and not in progress failed half-way (an agent crash
            # between create and start): reported as exited without a code, so it is cleaned.
            reports[status.kernel_id] = report_of(status)
        for spec in creating.values():
            if spec.kernel_id not in reports:
                reports[spec.kernel_id] = KernelReport(
                    kernel_id=spec.kernel_id, session_id=spec.session_id,
                    state=KernelState.CREATING, accelerators=spec.accelerators,
                )
        return list(reports.values())

    async def heartbeat(
        self, address: str, resource_group: str, capacity: dict[str, str], version: str,
        info: dict[str, str] | None = None, beats: BeatBuilder | None = None,
    ) -> Heartbeat:
        """``capacity`` is what the agent offers (:func:`berth.agent.server.host_capacity`,
        accelerator slots included); ``accelerators`` come from :attr:`devices` now.
        ``beats`` decides full or delta and numbers the beat (None: a full beat of a new
        epoch); the caller then tells it the manager's answer."""
        beats = beats or BeatBuilder()
        kernels = beats.next(await self.kernel_reports())
        if kernels.base is None:
            log.info("heartbeat %d: full (%s), %d kernels", kernels.seq, kernels.why,
                     kernels.kernel_count)
        return Heartbeat(
            agent_id=self.agent_id,
            address=address,
            resource_group=resource_group,
            capacity=capacity,
            images=await self.backend.list_images(),
            kernels=kernels.kernels,
            version=version,
            info=dict(info or {}),
            accelerators=await self.devices.infos(),
            epoch=beats.epoch,
            seq=kernels.seq,
            base=kernels.base,
            gone=kernels.gone,
            kernel_count=kernels.kernel_count,
        )
