"""Commit to image on the real engine, backend level (``DockerBackend`` as the agent uses it):
what the image holds and what it does not (scratch home, folders, Berth's variables, labels
and files), and a failing engine commit that leaves the kernel running and no image behind."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import pytest
import pytest_asyncio
from aiodocker.exceptions import DockerError

from berth.agent.backends.base import BackendError
from berth.agent.backends.docker import DockerBackend
from berth.domain import commits as cm
from berth.rpc import CreateKernel, MountSpec

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"


@pytest_asyncio.fixture
async def backend(docker_ready: None) -> AsyncIterator[DockerBackend]:
    b = DockerBackend(f"commit-{secrets.token_hex(4)}")
    made: list[str] = []
    b.made = made  # type: ignore[attr-defined]
    try:
        yield b
    finally:
        for kernel in await b.list_kernels():
            await b.remove(kernel.kernel_id)
        for ref in made:
            await b.remove_image(ref)
        await b.sweep_partial_images()
        await b.close()


async def _start(b: DockerBackend, home: str, folder: str, token: str) -> str:
    kernel_id = f"k{secrets.token_hex(4)}"
    spec = CreateKernel(
        kernel_id=kernel_id, session_id=f"s-{kernel_id}", session_name="commit-test",
        owner_id="u1", session_type="interactive", image=PYTHON_IMAGE, cpu=0.5,
        mem=256 * 2**20, shmem=64 * 2**20,
        environ={"BERTH_SESSION_ID": "s-secret", "MY_TOKEN": token, "HOME": "/home/work"},
        mounts=[MountSpec(source=folder, target="/home/work/data",
                           read_only=False)])
    await b.create_and_start(spec, home)
    return kernel_id


async def _run_image(docker: aiodocker.Docker, ref: str, script: str) -> str:
    """Output of ``sh -c script`` in a fresh container of ``ref`` (as the image's user)."""
    container = await docker.containers.create({"Image": ref, "Cmd": ["sh", "-c", script]})
    try:
        await container.start()
        await container.wait(timeout=120)
        return "".join(await container.log(stdout=True, stderr=True))
    finally:
        await container.delete(force=True)


async def test_commit_keeps_the_layer_and_drops_mounts_and_secrets(
        backend: DockerBackend) -> None:
    token = secrets.token_hex(8)
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as folder:
        os.chmod(home, 0o777)  # noqa: ASYNC240 (a temporary directory, once)
        os.chmod(folder, 0o777)  # noqa: ASYNC240
        kernel = await _start(backend, home, folder, token)
        code, out = await backend.exec_script(kernel, (
            "set -e; echo installed > /opt/berth/venv/bin/berth-hello; "
            "chmod +x /opt/berth/venv/bin/berth-hello; echo kept > /tmp/kept.txt; "
            "echo scratch > /home/work/scratch.txt; echo data > /home/work/data/f.txt; "
            f"mkdir -p /tmp/berth-apps && echo 'token={token}' > /tmp/berth-apps/jupyter.log"),
            30)
        assert code == 0, out
        ref = cm.ref_of("u1", f"t{secrets.token_hex(3)}")
        backend.made.append(ref)  # type: ignore[attr-defined]
        phases: list[str] = []
        labels = cm.image_labels("u1", "mine", PYTHON_IMAGE, "Python (customized)")
        size = await backend.commit(kernel, ref, labels, phases.append)
        assert phases == ["preparing", "committing", "scrubbing"]
        assert size > 0
        # The kernel is still running and untouched.
        code, out = await backend.exec_script(kernel, "cat /tmp/berth-apps/jupyter.log", 10)
        assert (code, out.strip()) == (0, f"token={token}")

        docker = backend.docker
        data: dict[str, Any] = await docker.images.inspect(ref)
        config = data["Config"]
        env = dict(e.partition("=")[::2] for e in config["Env"])
        assert env["MY_TOKEN"] == "" and env["BERTH_SESSION_ID"] == ""
        assert token not in str(config)
        assert config["User"] == "work" and config["WorkingDir"] == "/home/work"
        got = config["Labels"]
        assert got[cm.LABEL_OWNER] == "u1" and got[cm.LABEL_NAME] == "mine"
        assert got["berth.kind"] == "environment"
        assert got.get("berth.kernel-id", "") == "" and got.get("berth.agent-id", "") == ""
        out = await _run_image(docker, ref, (
            "cat /opt/berth/venv/bin/berth-hello /tmp/kept.txt; id -u; "
            "ls -A /home/work; ls /tmp/berth-apps 2>&1 || true; "
            f"grep -r {token} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head -1"))
        lines = out.splitlines()
        assert lines[:3] == ["installed", "kept", "1000"], out
        assert "scratch.txt" not in out and "data" not in lines[3:4]
        assert "No such file" in out  # /tmp/berth-apps is gone
        assert token not in out

        # Without Berth's files to remove, the first commit is the image (nothing started).
        code, out = await backend.exec_script(kernel, "rm -rf /tmp/berth-apps", 10)
        assert code == 0, out
        ref2 = cm.ref_of("u1", f"t{secrets.token_hex(3)}")
        backend.made.append(ref2)  # type: ignore[attr-defined]
        await backend.commit(kernel, ref2, labels, lambda _: None)
        history = await docker.images.history(ref2)
        assert len(history) == len(await docker.images.history(PYTHON_IMAGE)) + 1
    # No scrubbing container or unfinished (untagged) image was left.
    mine = f"berth.commit-agent={backend.agent_id}"
    assert not await docker.images.list(filters={"label": [mine], "dangling": ["true"]})
    assert not await docker.containers.list(all=True, filters={"label": [mine]})


async def test_engine_failure_ends_with_its_reason_and_the_kernel_runs_on(
        backend: DockerBackend) -> None:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as folder:
        os.chmod(home, 0o777)  # noqa: ASYNC240 (a temporary directory, once)
        kernel = await _start(backend, home, folder, "x")
        ref = cm.ref_of("u1", "failing")
        with pytest.raises(BackendError, match="could not commit"):
            await backend.commit(kernel, ref, {}, lambda _: None, fault="fail")
        [status] = await backend.list_kernels()
        assert status.running
        with pytest.raises(DockerError):
            await backend.docker.images.inspect(ref)
        with pytest.raises(KeyError):
            await backend.commit("nope", ref, {}, lambda _: None)
