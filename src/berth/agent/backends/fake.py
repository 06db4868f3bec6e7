"""FakeBackend: an in-memory ContainerBackend for scheduler and lifecycle tests ONLY.

THIS IS A FAKE. It runs nothing: its "containers" are records in a dict of one agent process,
lost when the process ends. It exists so that tests of the manager's scheduling, status
changes, timeouts and force-termination can drive a real manager + agent without Docker and
with failure modes a real engine will not produce on demand. Never select it where a user
would use Docker (the agent's ``backend`` setting defaults to ``docker``).

Modes (the agent's ``fake_mode`` setting):

``normal``       create starts at once; a batch kernel (``spec.command`` set) "runs" for
                 ~0.2 s and exits with 0, or with N when the command contains ``exit N``;
                 an interactive kernel runs until stopped.
``slow``         like normal, but creating takes ~3 s.
``never-start``  create blocks until cancelled (for stuck-in-transition tests).
``fail``         create raises ``BackendError("fake: refused by mode=fail")``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from berth.agent.accelerators.base import ContainerSettings
from berth.agent.backends.base import BackendError, ContainerStatus
from berth.rpc import CreateKernel, ImageInfo

MODES = ("normal", "slow", "never-start", "fail")
FAKE_IMAGE = "fake/python:3.11"
#: How long a fake batch command "runs", and how long creating takes in mode ``slow``.
BATCH_SECONDS = 0.2
SLOW_SECONDS = 3.0
_EXIT_RE = re.compile(r"\bexit\s+(\d+)")


def batch_exit_code(command: list[str]) -> int:
    """The fake exit code of a batch command: N for ``exit N`` anywhere in it, else 0."""
    match = _EXIT_RE.search(" ".join(command))
    return int(match.group(1)) % 256 if match else 0


@dataclass
class _FakeContainer:
    spec: CreateKernel
    container_id: str
    exit_code: int | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None
    #: What the accelerators asked for, and the environment the container would get (the
    #: spec's with theirs on top, as the Docker backend merges it): for tests to assert.
    devices: ContainerSettings = field(default_factory=ContainerSettings)
    env: dict[str, str] = field(default_factory=dict)

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            kernel_id=self.spec.kernel_id,
            session_id=self.spec.session_id,
            container_id=self.container_id,
            running=not self.stopped.is_set(),
            exit_code=self.exit_code,
            accelerators=[dict(a) for a in self.spec.accelerators],
        )

    def finish(self, exit_code: int) -> None:
        """Mark the container exited; the first exit code wins (a later stop keeps it)."""
        if not self.stopped.is_set():
            self.exit_code = exit_code
            self.stopped.set()


class FakeBackend:
    """A FAKE container engine in memory (tests only; see the module docstring).

    Satisfies :class:`~berth.agent.backends.base.ContainerBackend` and
    :class:`~berth.agent.backends.base.LogSource` with the same contracts as the Docker
    backend: ``stop`` and ``remove`` are idempotent, ``wait`` returns None for an unknown
    kernel, ``logs`` raises KeyError for one.
    """

    def __init__(self, agent_id: str, mode: str = "normal") -> None:
        if mode not in MODES:
            raise ValueError(f"fake backend mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.agent_id = agent_id
        self.mode = mode
        self.containers: dict[str, _FakeContainer] = {}

    async def list_images(self) -> list[ImageInfo]:
        """One fake image with no minimum resources."""
        return [
            ImageInfo(
                ref=FAKE_IMAGE,
                display_name="Fake Python",
                version="3.11",
                min_cpu=0,
                min_mem=0,
                labels={"berth.kind": "environment", "berth.fake": "true"},
            )
        ]

    async def create_and_start(self, spec: CreateKernel, scratch_dir: str,
                               devices: ContainerSettings | None = None) -> ContainerStatus:
        """Create a fake container as the mode says, recording ``devices`` and the merged
        environment (``containers[kernel_id].devices`` / ``.env``); it reports
        ``spec.accelerators`` as its label would. Raises BackendError for mode ``fail``,
        an unknown image or a kernel id that exists; mode ``never-start`` blocks until the
        caller cancels it (nothing is left behind then)."""
        if self.mode == "fail":
            raise BackendError("fake: refused by mode=fail")
        if self.mode == "never-start":
            await asyncio.Event().wait()
        if self.mode == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        if spec.image != FAKE_IMAGE:
            raise BackendError(f"image {spec.image} is not on this agent (fake backend)")
        if spec.kernel_id in self.containers:
            raise BackendError(f"fake: kernel {spec.kernel_id} exists already")
        devices = devices or ContainerSettings()
        container = _FakeContainer(spec, f"fake-{secrets.token_hex(16)}", devices=devices,
                                   env={**spec.environ, **devices.env})
        self.containers[spec.kernel_id] = container
        if spec.command:
            container.runner = asyncio.create_task(self._run_batch(container))
        return container.status()

    @staticmethod
    async def _run_batch(container: _FakeContainer) -> None:
        await asyncio.sleep(BATCH_SECONDS)
        container.finish(batch_exit_code(container.spec.command or []))

    async def list_kernels(self) -> list[ContainerStatus]:
        """Every fake container of this backend, running or exited."""
        return [c.status() for c in self.containers.values()]

    async def wait(self, kernel_id: str) -> ContainerStatus | None:
        """Block until the fake container stops; None when it does not exist."""
        container = self.containers.get(kernel_id)
        if container is None:
            return None
        await container.stopped.wait()
        return container.status()

    async def stop(self, kernel_id: str, grace: float) -> ContainerStatus | None:
        """Stop at once (143 as after SIGTERM, 137 with ``grace`` 0 as after SIGKILL).
        Idempotent; an exited container keeps its exit code. None when it does not exist."""
        container = self.containers.get(kernel_id)
        if container is None:
            return None
        if container.runner is not None:
            container.runner.cancel()
        container.finish(143 if grace > 0 else 137)
        return container.status()

    async def remove(self, kernel_id: str) -> None:
        """Forget the container (stopping it first). Idempotent."""
        container = self.containers.pop(kernel_id, None)
        if container is not None:
            if container.runner is not None:
                container.runner.cancel()
            container.finish(137)

    async def logs(self, kernel_id: str, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """One line naming the kernel and its command; with ``follow``, ends when the fake
        container stops. KeyError when it does not exist."""
        container = self.containers.get(kernel_id)
        if container is None:
            raise KeyError(kernel_id)
        command = shlex.join(container.spec.command) if container.spec.command else "(idle)"
        yield f"fake kernel {kernel_id} ran {command}\n".encode()
        if follow:
            await container.stopped.wait()

    async def close(self) -> None:
        """Stop the batch timers; the fake containers die with this process anyway."""
        for container in self.containers.values():
            if container.runner is not None:
                container.runner.cancel()
