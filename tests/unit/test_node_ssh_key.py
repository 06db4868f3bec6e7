"""The agent makes a kernel's SSH key pair as soon as the kernel starts, before reporting it
running, and a failure to make it never fails the kernel (the SSH app makes it later)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from berth.agent.apps import SSH_KEY_PATH, ssh_key_script, sshd_script
from berth.agent.backends.base import BackendError
from berth.agent.backends.fake import FAKE_IMAGE, FakeBackend
from berth.agent.node import Node
from berth.rpc import CreateKernel, EventKind, KernelEvent


class ExecFake(FakeBackend):
    """The fake engine plus exec, recording what ran (and when) next to the reported events."""

    def __init__(self, log: list[str], error: Exception | None = None) -> None:
        super().__init__("agent-1")
        self.log = log
        self.error = error

    async def exec_script(self, kernel_id: str, script: str, limit_s: float) -> tuple[int, str]:
        self.log.append(f"exec {script}")
        if self.error is not None:
            raise self.error
        return 0, ""

    async def open_terminal(self, kernel_id: str, command: list[str], cols: int,
                            rows: int) -> object:
        raise NotImplementedError


class Reporter:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.started = asyncio.Event()

    async def event(self, event: KernelEvent) -> None:
        self.log.append(f"event {event.kind}")
        if event.kind in (EventKind.STARTED, EventKind.CREATE_FAILED):
            self.started.set()


def spec(session_type: str = "interactive") -> CreateKernel:
    return CreateKernel(kernel_id="k1", session_id="s1", session_name="demo", owner_id="u1",
                        session_type=session_type, image=FAKE_IMAGE, cpu=1, mem=2**30,
                        shmem=2**26)


async def run_create(backend: ExecFake, log: list[str], tmp_path: Path,
                     session_type: str = "interactive") -> None:
    reporter = Reporter(log)
    node = Node("agent-1", backend, reporter, tmp_path)
    await node.start()
    node.accept(spec(session_type))
    await asyncio.wait_for(reporter.started.wait(), 10)
    await node.close()


@pytest.mark.asyncio
async def test_the_key_is_made_before_the_kernel_is_reported_running(tmp_path: Path) -> None:
    log: list[str] = []
    await run_create(ExecFake(log), log, tmp_path)
    assert log == [f"exec {ssh_key_script()}", f"event {EventKind.STARTED}"]


@pytest.mark.asyncio
async def test_a_batch_kernel_is_reported_running_at_once_without_a_key(tmp_path: Path) -> None:
    # A short batch command could end while the key is made, before the kernel is reported
    # running; batch kernels have no SSH app anyway.
    log: list[str] = []
    await run_create(ExecFake(log), log, tmp_path, "batch")
    assert log == [f"event {EventKind.STARTED}"]


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [BackendError("not running"), KeyError("k1")])
async def test_a_failed_key_does_not_fail_the_kernel(tmp_path: Path, error: Exception) -> None:
    log: list[str] = []
    await run_create(ExecFake(log, error), log, tmp_path)
    assert log[-1] == f"event {EventKind.STARTED}"


def test_the_key_script_keeps_an_existing_key_and_sshd_uses_it() -> None:
    script = ssh_key_script()
    assert script.startswith(f"[ -f {SSH_KEY_PATH} ] ||")
    assert f"-f {SSH_KEY_PATH}" in script
    assert script in sshd_script(2200)
    assert f"cp {SSH_KEY_PATH}.pub" in sshd_script(2200)
