"""Commit to image ("Convert Session to Image", PRODUCT.md §8): the pure rules.

A RUNNING interactive session's kernel is saved as a *customized image* of its owner. This
module holds what needs no I/O: the name rule, the task's statuses and phases with the
transitions allowed between them, the image's reference and labels, and what the engine's
commit must reset so that the image holds none of what Berth put into the container.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

#: PRODUCT.md §8: 4-32 characters of letters, digits, ``-`` and ``_``.
NAME_RE = re.compile(r"[A-Za-z0-9_-]{4,32}")

#: Image labels of a customized image (the agent reports ``berth.*`` labels to the manager).
LABEL_OWNER = "berth.customized-owner"
LABEL_NAME = "berth.customized-name"
LABEL_FROM = "berth.customized-from"
LABEL_KIND = "berth.kind"
#: ``berth.kind`` of the throwaway containers that remove :data:`SCRUB_PATHS` from a new
#: image (never taken for kernels; the agent removes those it finds at start).
KIND_PARTIAL = "commit-partial"
#: Repository of every customized image; the tag is ``<owner id>-<name>`` (see :func:`ref_of`).
REPOSITORY = "berth/customized"
#: Files Berth writes into a kernel outside its mounts; the image must not keep them (app logs
#: may hold an app's token, e.g. Jupyter prints its URL with the token; tmux sockets are
#: stale in another container).
SCRUB_PATHS = ("/tmp/berth-apps", "/tmp/tmux-1000")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a customized image, or None when it can."""
    if not NAME_RE.fullmatch(name):
        return ("must be 4 to 32 characters of letters, digits, '-' and '_' "
                f"(got {len(name)} characters)" if not 4 <= len(name) <= 32 else
                "may contain only letters, digits, '-' and '_'")
    return None


def ref_of(owner_id: str, name: str) -> str:
    """The image reference of ``owner_id``'s customized image ``name``: one repository, a
    tag per owner and name (tags allow letters, digits, ``_``, ``.``, ``-``; 128 at most),
    so two owners may use the same name and an owner's names stay distinct."""
    owner = re.sub(r"[^A-Za-z0-9_.-]", "_", owner_id)[:90]
    return f"{REPOSITORY}:{owner}-{name}"


def image_labels(owner_id: str, name: str, base_ref: str, display_name: str) -> dict[str, str]:
    """The labels a customized image gets on top of its base image's: owner, name, where it
    came from, and a display name and version that tag it as customized in the launcher."""
    return {LABEL_OWNER: owner_id, LABEL_NAME: name, LABEL_FROM: base_ref,
            "berth.display-name": display_name, "berth.version": f"Customized<{name}>",
            LABEL_KIND: "environment"}


def reset_env(container_env: Iterable[str], image_env: Iterable[str]) -> list[str]:
    """The ``Env`` to commit with: the base image's own entries, and every other variable of
    the container (what Berth and the session added: session ids, tokens, thread counts,
    accelerator settings, the user's variables) set to the empty string. The engine merges a
    commit's ``Env`` with the container's and keeps each container variable the list does not
    name, so naming them all is the only way to keep their values out of the image."""
    own = list(image_env)
    keys = {entry.partition("=")[0] for entry in own}
    extra = dict.fromkeys(entry.partition("=")[0] for entry in container_env
                          if entry.partition("=")[0] not in keys)
    return own + [f"{k}=" for k in extra]


def reset_labels(container_labels: Mapping[str, str], image_labels: Mapping[str, str],
                 wanted: Mapping[str, str]) -> dict[str, str]:
    """The ``Labels`` to commit with: the base image's, ``wanted`` over them, and each
    other container label (the kernel's ``berth.kernel-id``, session, owner, agent...) as ""
    (the engine keeps container labels a commit does not name)."""
    labels = {k: "" for k in container_labels}
    labels.update(image_labels)
    labels.update(wanted)
    return labels


class CommitStatus(StrEnum):
    PENDING = "pending"  # the manager has the row; the agent was not asked yet
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Phase(StrEnum):
    PREPARING = "preparing"
    COMMITTING = "committing"
    SCRUBBING = "scrubbing"
    DONE = "done"
    FAILED = "failed"


#: Progress shown for each phase (the engine's commit reports none of its own).
PROGRESS = {Phase.PREPARING: 5, Phase.COMMITTING: 20, Phase.SCRUBBING: 85, Phase.DONE: 100,
            Phase.FAILED: 100}

#: The allowed status changes; anything else is refused (a late report cannot revive a task).
TRANSITIONS: dict[CommitStatus, frozenset[CommitStatus]] = {
    CommitStatus.PENDING: frozenset({CommitStatus.RUNNING, CommitStatus.FAILED}),
    CommitStatus.RUNNING: frozenset({CommitStatus.DONE, CommitStatus.FAILED}),
    CommitStatus.DONE: frozenset(),
    CommitStatus.FAILED: frozenset(),
}
ACTIVE = frozenset({CommitStatus.PENDING, CommitStatus.RUNNING})


def can_move(old: str, new: str) -> bool:
    """Whether a task in status ``old`` may become ``new`` (the same status: yes, a repeat)."""
    if old == new:
        return True
    return CommitStatus(new) in TRANSITIONS[CommitStatus(old)]


def status_of_phase(phase: str) -> CommitStatus:
    """The task status an agent's phase means."""
    if phase == Phase.DONE:
        return CommitStatus.DONE
    if phase == Phase.FAILED:
        return CommitStatus.FAILED
    return CommitStatus.RUNNING


def limit_problem(limit: int | None, images: int, active: int) -> str | None:
    """Why the owner may not start another commit under a policy allowing ``limit``
    customized images (None: no limit), holding ``images`` and committing ``active``."""
    if limit is None or images + active < limit:
        return None
    return (f"your resource policy allows {limit} customized image(s) and you have "
            f"{images}{f' (+{active} being made)' if active else ''}; remove one with "
            "'berth image rm IMAGE' (or in the environment list) and try again")
