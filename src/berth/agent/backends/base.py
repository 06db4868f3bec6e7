"""The small interface between the agent and a container engine.

``ContainerBackend`` is what every backend must do; ``LogSource`` is an optional capability
(checked with ``isinstance``), like a driver plugin with optional extras. Exec, stats and
commit arrive later as further capability protocols instead of methods that raise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from berth.agent.accelerators.base import ContainerSettings
from berth.domain.devices import Allocation
from berth.rpc import AppPort, CreateKernel, ImageInfo

log = logging.getLogger(__name__)

#: Labels on every container Berth creates; they let an agent re-adopt its containers.
LABEL_KERNEL = "berth.kernel-id"
LABEL_SESSION = "berth.session-id"
LABEL_OWNER = "berth.owner-id"
LABEL_AGENT = "berth.agent-id"
LABEL_SESSION_NAME = "berth.session-name"
LABEL_APPS = "berth.kernel-apps"
#: On the kernels of a cluster session: the session's network (removed after its last one).
LABEL_NETWORK = "berth.network"
#: What the kernel holds of accelerators: a JSON list of ``Allocation.to_json`` dicts (absent:
#: nothing). Read back after an agent restart, so it is untrusted input (see
#: :func:`read_accelerators_label`).
LABEL_ACCELERATORS = "berth.accelerators"
#: Port of the sshd every kernel of a cluster runs for the others (the SSH app has its own).
CLUSTER_SSH_PORT = 2222


@dataclass
class ContainerStatus:
    """What the engine says about a kernel's container right now."""

    kernel_id: str
    session_id: str
    container_id: str
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    app_ports: list[AppPort] = field(default_factory=list)
    started: bool = True  # False: created but never started, so neither running nor exited
    #: What the kernel holds of accelerators (``Allocation.to_json`` dicts, as the agent
    #: gave them in ``CreateKernel.accelerators``); [] for nothing.
    accelerators: list[dict[str, Any]] = field(default_factory=list)


def accelerators_label(allocations: list[dict[str, Any]]) -> str:
    """The :data:`LABEL_ACCELERATORS` value of ``allocations`` ("" for none)."""
    return json.dumps(allocations, separators=(",", ":"), sort_keys=True) if allocations else ""


def read_accelerators_label(kernel_id: str, text: str,
                            warn: Callable[[str], None] = log.warning) -> list[dict[str, Any]]:
    """The allocations of a :data:`LABEL_ACCELERATORS` value, each as ``Allocation.to_json``
    gives it. A label is untrusted (anyone with the engine can set one): text that is not a
    JSON list is read as [], an item that is not a valid allocation is left out, each with a
    sentence to ``warn`` (the log by default). Never raises."""
    if not text:
        return []
    where = f"kernel {kernel_id}: label {LABEL_ACCELERATORS}"
    try:
        items = json.loads(text)
    except ValueError as e:
        warn(f"{where} ignored, not JSON: {e}")
        return []
    if not isinstance(items, list):
        warn(f"{where} ignored, not a JSON list")
        return []
    found = []
    for index, item in enumerate(items):
        try:
            found.append(Allocation.from_json(item).to_json())
        except ValueError as e:
            warn(f"{where}: item {index} ignored: {e}")
    return found


class BackendError(RuntimeError):
    """The engine refused or failed an operation; the message is meant for users."""


class ContainerBackend(Protocol):
    async def list_images(self) -> list[ImageInfo]:
        """Environment images available on this node. Safe to call any time."""
        ...

    async def create_and_start(self, spec: CreateKernel, scratch_dir: str,
                               devices: ContainerSettings | None = None) -> ContainerStatus:
        """Create and start the kernel's container. Raises BackendError with a reason.

        ``devices`` is what the kernel's accelerators need (the agent's
        :meth:`~berth.agent.devices.Accelerators.reserve` merged it from the plugins): its
        environment is added to ``spec.environ`` (winning over it: the agent's values are
        the allocation's), its device requests, mounts and host IPC applied. The backend
        keeps ``spec.accelerators`` with the container, so that :meth:`list_kernels` reports
        them (``ContainerStatus.accelerators``) also after an agent restart.

        Not idempotent: the caller must not call it twice for one kernel id; a container
        left from a failed attempt is removed before raising.
        """
        ...

    async def list_kernels(self) -> list[ContainerStatus]:
        """Every Berth container of this agent, running or exited, with what each holds of
        accelerators. Works after a restart."""
        ...

    async def wait(self, kernel_id: str) -> ContainerStatus | None:
        """Block until the kernel's container stops; None when it does not exist."""
        ...

    async def stop(self, kernel_id: str, grace: float) -> ContainerStatus | None:
        """Stop (SIGTERM, then SIGKILL after ``grace`` s). Idempotent: also for a stopped
        container; None when there is no container."""
        ...

    async def remove(self, kernel_id: str) -> None:
        """Remove the container. Idempotent: no error when it does not exist."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class LogSource(Protocol):
    def logs(self, kernel_id: str, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """The container's combined stdout/stderr; raises KeyError when it does not exist."""
        ...


class Terminal(Protocol):
    """A shell on a pseudo-terminal inside a kernel."""

    async def read(self) -> bytes:
        """The next output bytes; b"" once the shell has ended."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, cols: int, rows: int) -> None: ...

    async def close(self) -> None:
        """Detach. Idempotent. A tmux session behind it keeps running."""
        ...


@runtime_checkable
class Exec(Protocol):
    """Optional capability: run commands inside a running kernel as its user."""

    async def exec_script(self, kernel_id: str, script: str, limit_s: float) -> tuple[int, str]:
        """Run ``sh -c script``; returns (exit code, combined output). Raises KeyError when the
        kernel's container does not exist, BackendError when it is not running."""
        ...

    async def open_terminal(self, kernel_id: str, command: list[str], cols: int,
                            rows: int) -> Terminal:
        """Start ``command`` on a new pseudo-terminal. Raises like :meth:`exec_script`."""
        ...


@runtime_checkable
class Committer(Protocol):
    """Optional capability: save a running kernel's container as an image (customized
    images, :mod:`berth.domain.commits`)."""

    async def commit(self, kernel_id: str, ref: str, labels: dict[str, str],
                     phase: Callable[[str], None], fault: str = "") -> int:
        """Save the kernel's container as image ``ref`` with ``labels``; returns its size in
        bytes. What is mounted (scratch home, folders) is not in the image; neither are the
        variables Berth set, the kernel's labels, nor the files of
        :data:`berth.domain.commits.SCRUB_PATHS`. Calls ``phase`` with each phase it enters.
        The image is tagged only once complete; an intermediate one is removed on failure.
        Raises KeyError when the container does not exist, BackendError (with the reason)
        when the engine fails or the container stops meanwhile. ``fault``: a test seam
        ("fail": the engine is sent a bad commit)."""
        ...

    async def remove_image(self, ref: str) -> bool:
        """Remove the image ``ref``; False when there was none. Raises BackendError when the
        engine refuses (e.g. a container uses it)."""
        ...

    async def sweep_partial_images(self) -> int:
        """Remove intermediate images left by commits that never finished (an agent
        restart); returns how many."""
        ...
