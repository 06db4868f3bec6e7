"""Commit to image (issue 12): save a RUNNING interactive session as a customized image,
follow the task, list and remove customized images."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas_commits import CommitIn, CommitOut, CustomizedImageOut
from berth.manager.services import commits as svc

router = APIRouter(prefix="/api", tags=["images"])

Responses = dict[int | str, dict[str, Any]]
COMMIT_ERRORS: Responses = {
    404: {"description": "No such session"},
    403: {"description": "Only the session's owner may commit it"},
    409: {"description": "Not possible now: a batch session, not RUNNING, a commit already "
                         "running, the name taken, or the resource policy's count reached "
                         "(the detail says which and what to do)"},
    422: {"description": "The name breaks the rule (4-32 letters, digits, '-', '_')"},
}


@router.post("/sessions/{ref}/commit", status_code=202, responses=COMMIT_ERRORS)
async def commit_session(ref: str, body: CommitIn, actor: ActorDep,
                         m: ManagerDep) -> CommitOut:
    """Save the session's current state as your customized image ``name`` (a background
    task: follow it with ``GET /api/commits/{id}``). Only RUNNING interactive sessions, owner
    only. What is mounted (the scratch home /home/work, folders) is not included, nor are
    the variables, keys and app files Berth put into the container. While the task runs the
    session cannot be terminated normally (force-terminating it fails the task)."""
    return await svc.start_commit(m, actor, ref, body.name)


@router.get("/sessions/{ref}/commits", responses={404: {"description": "No such session"}})
async def session_commits(ref: str, actor: ActorDep, m: ManagerDep) -> list[CommitOut]:
    """The session's commit tasks, newest first."""
    return await svc.session_commits(m, actor, ref)


@router.get("/commits/{commit_id}", responses={404: {"description": "No such commit of yours"}})
async def get_commit(commit_id: str, actor: ActorDep, m: ManagerDep) -> CommitOut:
    """A commit task: status, phase, progress, the image's size once known, the reason of a
    failure."""
    return await svc.get_commit(m, actor, commit_id)


@router.get("/customized-images", responses={403: {"description": "everyone: admins only"}})
async def list_customized_images(actor: ActorDep, m: ManagerDep,
                                 everyone: bool = False) -> list[CustomizedImageOut]:
    """Your customized images (admins with ``everyone``: all users')."""
    return await svc.list_customized(m, actor, everyone)


@router.delete("/customized-images/{ref:path}", status_code=204, responses={
    404: {"description": "No such customized image of yours"},
    409: {"description": "An agent could not remove it (e.g. a session uses it)"}})
async def remove_customized_image(ref: str, actor: ActorDep, m: ManagerDep) -> Response:
    """Remove a customized image (yours; admins: anyone's) from every agent."""
    await svc.remove_customized(m, actor, ref)
    return Response(status_code=204)
