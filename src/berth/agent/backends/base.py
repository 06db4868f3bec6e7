"""The small interface between the agent and a container engine.

``ContainerBackend`` is what every backend must do; ``LogSource`` is an optional capability
(checked with ``isinstance``), like a driver plugin with optional extras. Exec, stats and
commit arrive later as further capability protocols instead of methods that raise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from berth.rpc import AppPort, CreateKernel, ImageInfo

#: Labels on every container Berth creates; they let an agent re-adopt its containers.
LABEL_KERNEL = "berth.kernel-id"
LABEL_SESSION = "berth.session-id"
LABEL_OWNER = "berth.owner-id"
LABEL_AGENT = "berth.agent-id"
LABEL_SESSION_NAME = "berth.session-name"
LABEL_APPS = "berth.kernel-apps"
#: On the kernels of a cluster session: the session's network (removed after its last one).
LABEL_NETWORK = "berth.network"
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


class BackendError(RuntimeError):
    """The engine refused or failed an operation; the message is meant for users."""


class ContainerBackend(Protocol):
    async def list_images(self) -> list[ImageInfo]:
        """Environment images available on this node. Safe to call any time."""
        ...

    async def create_and_start(self, spec: CreateKernel, scratch_dir: str) -> ContainerStatus:
        """Create and start the kernel's container. Raises BackendError with a reason.

        Not idempotent: the caller must not call it twice for one kernel id; a container
        left from a failed attempt is removed before raising.
        """
        ...

    async def list_kernels(self) -> list[ContainerStatus]:
        """Every Berth container of this agent, running or exited. Works after a restart."""
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
