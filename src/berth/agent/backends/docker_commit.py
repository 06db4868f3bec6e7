"""The Committer capability on the Docker Engine API (aiodocker; never the ``docker`` CLI).

A commit takes two engine commits so that the running session is never disturbed:

1. *committing*: the kernel's container is committed (paused for the duration, the engine's
   default) into an untagged intermediate image labelled ``berth.kind=commit-partial``.
   Bind mounts (the scratch home ``/home/work``, folders, accelerator mounts) are not part
   of a container's layer, so the engine leaves them out by itself.
2. *scrubbing*: a throwaway container of that image (no network, nothing mounted) deletes
   :data:`~berth.domain.commits.SCRUB_PATHS` (files Berth wrote outside the mounts, e.g.
   app logs holding tokens), and is committed as the final image with the base image's
   configuration (user, command, working directory), the variables Berth or the session set
   emptied and the kernel's labels blanked (:func:`~berth.domain.commits.reset_env`), and the
   customized image's labels; only this commit tags ``ref``.

The intermediate image and container are removed in every case.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

from berth.agent.backends.base import LABEL_AGENT, LABEL_KERNEL, BackendError
from berth.domain import commits as cm

log = logging.getLogger(__name__)
SCRUB_UID = "0:0"
#: On intermediate images and scrubbing containers: the agent that made them.
LABEL_COMMIT_AGENT = "berth.commit-agent"


async def _inspect_image(docker: aiodocker.Docker, ref: str) -> dict[str, Any]:
    try:
        return await docker.images.inspect(ref)
    except DockerError as e:
        raise BackendError(f"cannot read the image {ref}: {e.message}") from e


def final_config(container: dict[str, Any], base: dict[str, Any],
                 labels: dict[str, str]) -> dict[str, Any]:
    """The configuration of the final commit: the base image's user, command, entrypoint
    and working directory; its variables, the others emptied; its labels with ``labels``
    over them, the others blanked. ``container`` and ``base`` are engine inspect answers."""
    own = container.get("Config") or {}
    image = base.get("Config") or {}
    return {
        "User": image.get("User") or "",
        "Cmd": image.get("Cmd") or ["sh"],
        "Entrypoint": image.get("Entrypoint"),
        "WorkingDir": image.get("WorkingDir") or "",
        "Env": cm.reset_env(own.get("Env") or [], image.get("Env") or []),
        "Labels": cm.reset_labels(own.get("Labels") or {}, image.get("Labels") or {}, labels),
    }


def partial_labels(agent_id: str) -> dict[str, str]:
    """Labels of the intermediate image and the scrubbing container: found again by the
    agent that made them (agents may share an engine)."""
    return {cm.LABEL_KIND: cm.KIND_PARTIAL, LABEL_COMMIT_AGENT: agent_id}


def scrub_config(image_id: str, agent_id: str) -> dict[str, Any]:
    """A container that deletes :data:`SCRUB_PATHS` in ``image_id``: root with only the two
    capabilities deleting another user's files in ``/tmp`` needs, no network, no mounts."""
    return {
        "Image": image_id,
        "Cmd": ["rm", "-rf", "--one-file-system", *cm.SCRUB_PATHS],
        "Entrypoint": [],
        "User": SCRUB_UID,
        "NetworkDisabled": True,
        # Blank the kernel's agent label inherited from the image: never taken for a kernel.
        "Labels": {**partial_labels(agent_id), LABEL_AGENT: "", LABEL_KERNEL: ""},
        "HostConfig": {"NetworkMode": "none", "CapDrop": ["ALL"],
                       "CapAdd": ["DAC_OVERRIDE", "FOWNER"],
                       "SecurityOpt": ["no-new-privileges"], "AutoRemove": False},
    }


async def commit_kernel(docker: aiodocker.Docker, agent_id: str, container_name: str,
                        ref: str, labels: dict[str, str], phase: Callable[[str], None],
                        fault: str = "") -> int:
    """See :meth:`berth.agent.backends.base.Committer.commit`."""
    phase(cm.Phase.PREPARING)
    try:
        container = await docker.containers.get(container_name)
        data = await container.show()
    except DockerError as e:
        if e.status == 404:
            raise KeyError(container_name) from e
        raise BackendError(f"cannot read the kernel's container: {e.message}") from e
    if not (data.get("State") or {}).get("Running"):
        raise BackendError("the kernel is not running")
    base = await _inspect_image(docker, data["Image"])
    phase(cm.Phase.COMMITTING)
    changes = ["NOT-AN-INSTRUCTION x"] if fault == "fail" else None
    try:
        partial = await container.commit(
            changes=changes, config={"Labels": partial_labels(agent_id)})
    except DockerError as e:
        raise BackendError(f"the engine could not commit the container: {e.message}") from e
    partial_id = partial["Id"]
    scrubber = None
    try:
        phase(cm.Phase.SCRUBBING)
        await _still_running(container)
        scrubber = await docker.containers.create(scrub_config(partial_id, agent_id))
        await scrubber.start()
        result = await scrubber.wait(timeout=None)
        if result.get("StatusCode") != 0:
            raise BackendError(f"removing Berth's files from the image failed (exit "
                               f"{result.get('StatusCode')})")
        repository, _, tag = ref.rpartition(":")
        await scrubber.commit(repository=repository, tag=tag, pause=False,
                              config=final_config(await scrubber.show(), base, labels))
        await _still_running(container, remove=ref, docker=docker)
        return int((await _inspect_image(docker, ref)).get("Size") or 0)
    except DockerError as e:
        raise BackendError(f"the engine failed while making the image: {e.message}") from e
    finally:
        if scrubber is not None:
            with contextlib.suppress(DockerError):
                await scrubber.delete(force=True)
        with contextlib.suppress(DockerError):
            await docker.images.delete(partial_id, force=True)


async def _still_running(container: Any, remove: str = "",
                         docker: aiodocker.Docker | None = None) -> None:
    """Raise BackendError when the kernel's container stopped or went (the session was
    force-terminated during the commit), first removing the image ``remove`` if given."""
    try:
        running = bool(((await container.show()).get("State") or {}).get("Running"))
    except DockerError:
        running = False
    if not running:
        if remove and docker is not None:
            await remove_image(docker, remove)
        raise BackendError("the session ended during the commit")


async def remove_image(docker: aiodocker.Docker, ref: str) -> bool:
    """See :meth:`berth.agent.backends.base.Committer.remove_image`."""
    try:
        await docker.images.delete(ref)
    except DockerError as e:
        if e.status == 404:
            return False
        raise BackendError(f"the engine could not remove {ref}: {e.message}") from e
    return True


async def sweep_partial_images(docker: aiodocker.Docker, agent_id: str) -> int:
    """See :meth:`berth.agent.backends.base.Committer.sweep_partial_images`."""
    label = [f"{cm.LABEL_KIND}={cm.KIND_PARTIAL}", f"{LABEL_COMMIT_AGENT}={agent_id}"]
    removed = 0
    for found in await docker.containers.list(all=True, filters={"label": label}):
        with contextlib.suppress(DockerError):
            await found.delete(force=True)
    for image in await docker.images.list(filters={"label": label}):
        try:
            await docker.images.delete(image["Id"], force=True)
            removed += 1
        except DockerError as e:
            log.warning("could not remove the intermediate image %s: %s", image["Id"],
                        e.message)
    return removed
