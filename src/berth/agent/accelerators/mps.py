"""NVIDIA MPS (Multi-Process Service) control daemons: one per GPU whose shares kernels hold.

MPS runs the CUDA work of several processes on one GPU through one server, and on Volta and
later GPUs it enforces per-client limits that a client cannot lift: the share of the GPU's
threads (``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE``) and of its memory
(``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT``). That is what makes ``cuda.shares`` a real fraction.

Each GPU gets its own control daemon that sees only that GPU and has its own pipe and log
directories under the agent's state directory, so a kernel is handed the pipe directory of
just the GPU it shares. The daemon starts an MPS server on demand when the first client
connects, as that client's user (every kernel runs as the same uid, so they share a server).
Commands go through an injectable runner so that tests can check the command lines.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.agent.accelerators.base import AcceleratorError

CONTROL = "nvidia-cuda-mps-control"
#: Seconds one control command may take; the daemon answers in milliseconds when alive.
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout: str
    stderr: str


#: Runs ``argv`` with ``env`` set on top of the agent's environment, ``stdin`` (or nothing)
#: as its input, and returns when it has exited. Never raises for a failed command.
Runner = Callable[[Sequence[str], Mapping[str, str], str | None], Awaitable[ProcessResult]]


async def run_process(argv: Sequence[str], env: Mapping[str, str], stdin: str | None
                      ) -> ProcessResult:
    """The real :data:`Runner`: a missing program is return code 127, a command that takes
    longer than :data:`COMMAND_TIMEOUT` is killed and is return code 124."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        return ProcessResult(127, "", f"{argv[0]}: {e}")
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return ProcessResult(124, "", f"{argv[0]}: no answer within {COMMAND_TIMEOUT:g} s")
    return ProcessResult(proc.returncode or 0, out.decode(errors="replace"),
                         err.decode(errors="replace"))


class MpsDaemon:
    """The MPS control daemon of one GPU. ``gpu`` is the device id (for paths and messages),
    ``visible`` what selects the GPU in ``CUDA_VISIBLE_DEVICES`` (its UUID, which stays right
    however devices are numbered). ``state`` is ``stopped``, ``running`` or
    ``failed: <why>``."""

    def __init__(self, gpu: str, visible: str, state_dir: Path, runner: Runner) -> None:
        self.gpu = gpu
        self.visible = visible
        self.pipe_dir = state_dir / "mps" / gpu / "pipe"
        self.log_dir = state_dir / "mps" / gpu / "log"
        self._run = runner
        self.state = "stopped"
        #: True when :meth:`start` found a daemon from an earlier agent process and kept it.
        self.reused = False

    def env(self) -> dict[str, str]:
        """The environment the daemon runs in, and that control commands are sent with."""
        return {"CUDA_VISIBLE_DEVICES": self.visible,
                "CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir),
                "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}

    async def alive(self) -> bool:
        """Whether a daemon answers on this GPU's pipe directory."""
        result = await self._run([CONTROL], self.env(), "get_server_list\n")
        return result.returncode == 0

    async def start(self) -> None:
        """Start the daemon (``nvidia-cuda-mps-control -d``) unless one already answers.
        Idempotent. Raises AcceleratorError with the daemon's words when it does not start."""
        try:
            for path in (self.pipe_dir, self.log_dir):
                path.mkdir(parents=True, exist_ok=True)
                # The MPS server runs as the kernels' uid, not as the agent's, and writes here.
                path.chmod(0o1777)
        except OSError as e:
            self.state = f"failed: {e}"
            raise AcceleratorError(f"MPS control daemon for GPU {self.gpu}: {e}") from None
        if await self.alive():
            self.state, self.reused = "running", True
            return
        result = await self._run([CONTROL, "-d"], self.env(), None)
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
            self.state = f"failed: {why}"
            raise AcceleratorError(f"MPS control daemon for GPU {self.gpu} did not start: {why}")
        self.state = "running"

    async def stop(self) -> None:
        """Ask the daemon to quit (``echo quit | nvidia-cuda-mps-control``): it takes no new
        clients and ends its servers once their clients are done. Idempotent."""
        if self.state != "running":
            return
        await self._run([CONTROL], self.env(), "quit\n")
        self.state = "stopped"
