"""The Committer capability on the Docker Engine API (aiodocker; never the ``docker`` CLI).

The running session is never disturbed (only paused while the engine commits it):

1. *committing*: the kernel's container is committed into an untagged image with the base
   image's configuration (user, command, working directory), the variables Berth or the
   session set emptied and the kernel's labels blanked (:func:`final_config`), and the
   customized image's labels. Bind mounts (the scratch home ``/home/work``, folders,
   accelerator mounts) are not part of a container's layer, so the engine leaves them out.
2. *scrubbing*: a container of that image is created (never started when there is nothing
   to do) and asked whether :data:`~berth.domain.commits.SCRUB_PATHS` (files Berth wrote
   outside the mounts, e.g. app logs holding a token) exist; when one does, it runs as a
   throwaway container (no network, nothing mounted) that deletes them and is committed
   again. Only then is ``ref`` tagged: an image is never listed half-made (agents list
   tagged images only), and untagged ones of unfinished commits are swept at agent start.
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
    """Labels of a scrubbing container: found again by the agent that made it (agents may
    share an engine)."""
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
    wanted = {**labels, LABEL_COMMIT_AGENT: agent_id}
    changes = ["NOT-AN-INSTRUCTION x"] if fault == "fail" else None
    try:
        first = (await container.commit(changes=changes,
                                        config=final_config(data, base, wanted)))["Id"]
    except DockerError as e:
        raise BackendError(f"the engine could not commit the container: {e.message}") from e
    tagged = False
    try:
        phase(cm.Phase.SCRUBBING)
        await _still_running(container)
        final = await _scrubbed(docker, first, base, wanted, agent_id)
        repository, _, tag = ref.rpartition(":")
        await docker.images.tag(final, repository, tag=tag)
        tagged = True
        await _still_running(container, remove=ref, docker=docker)
        return int((await _inspect_image(docker, ref)).get("Size") or 0)
    except DockerError as e:
        raise BackendError(f"the engine failed while making the image: {e.message}") from e
    finally:
        if not tagged:  # (a scrubbed image's parent goes with it when it is removed)
            with contextlib.suppress(DockerError):
                await docker.images.delete(first, force=True)


async def _scrubbed(docker: aiodocker.Docker, image_id: str, base: dict[str, Any],
                    labels: dict[str, str], agent_id: str) -> str:
    """``image_id`` without :data:`~berth.domain.commits.SCRUB_PATHS`: itself when it has
    none of them (looked up in a created, never started container: cheap), else the commit
    of a scrubbing container."""
    scrubber = await docker.containers.create(scrub_config(image_id, agent_id))
    try:
        present = [p for p in cm.SCRUB_PATHS if await _exists(scrubber, p)]
        if not present:
            return image_id
        await scrubber.start()
        result = await scrubber.wait(timeout=None)
        if result.get("StatusCode") != 0:
            raise BackendError(f"removing Berth's files from the image failed (exit "
                               f"{result.get('StatusCode')})")
        done = await scrubber.commit(pause=False,
                                     config=final_config(await scrubber.show(), base, labels))
        return str(done["Id"])
    finally:
        with contextlib.suppress(DockerError):
            await scrubber.delete(force=True)


async def _exists(container: Any, path: str) -> bool:
    try:
        await container.get_archive(path)
    except DockerError as e:
        if e.status == 404:
            return False
        raise
    return True


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
    mine = f"{LABEL_COMMIT_AGENT}={agent_id}"
    removed = 0
    scrubbers = {"label": [f"{cm.LABEL_KIND}={cm.KIND_PARTIAL}", mine]}
    for found in await docker.containers.list(all=True, filters=scrubbers):
        with contextlib.suppress(DockerError):
            await found.delete(force=True)
    # Untagged images of this agent's commits: never finished (a finished one is tagged).
    for image in await docker.images.list(filters={"label": [mine], "dangling": ["true"]}):
        try:
            await docker.images.delete(image["Id"], force=True)
            removed += 1
        except DockerError as e:
            log.warning("could not remove the intermediate image %s: %s", image["Id"],
                        e.message)
    return removed
