"""Sessions: create, list, info, rename, terminate, logs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse

from berth.domain.status import SessionStatus, SessionType
from berth.manager.agent_client import AGENT_ERRORS
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas import (
    BulkTerminateIn,
    HistoryOut,
    SessionCreate,
    SessionDetailOut,
    SessionOut,
    SessionPage,
    SessionUpdate,
    TerminateIn,
)
from berth.manager.schemas_usage import SessionUsageOut
from berth.manager.services import sessions as svc
from berth.manager.services.activity import held_while_open, visible_session_id
from berth.manager.services.idle import session_idle
from berth.manager.services.usage_out import session_usage_of
from berth.manager.services.views import sessions_out

router = APIRouter(prefix="/api/sessions", tags=["sessions"])
Responses = dict[int | str, dict[str, Any]]
SortKey = Literal[
    "name",
    "-name",
    "status",
    "-status",
    "type",
    "-type",
    "image",
    "-image",
    "created_at",
    "-created_at",
    "started_at",
    "-started_at",
    "agent_id",
    "-agent_id",
    "cpu",
    "-cpu",
    "mem",
    "-mem",
    "owner",
    "-owner",
]
NOT_FOUND: Responses = {404: {"description": "No such session visible to you"}}
ENDED_CONFLICT: Responses = {409: {"description": "Not possible in the session's status"}}


@router.post("", status_code=201, responses={403: {"description": "Not allowed"}, **ENDED_CONFLICT})
async def create_sessions(
    body: SessionCreate,
    actor: ActorDep,
    m: ManagerDep,
    response: Response,
    dry_run: Annotated[
        bool, Query(description="Only validate: answer 200 with the sessions that would be made.")
    ] = False,
) -> list[SessionOut]:
    """Create ``count`` sessions (PENDING). Follow them with the event stream or by polling.
    The launch is remembered in your recent history (``/api/launches``)."""
    shown = svc.Shown()
    rows = await svc.create_sessions(m, actor, body, dry_run=dry_run, shown=shown)
    if dry_run:
        response.status_code = 200
    return await sessions_out(m, rows, shown)


@router.get("", response_model=SessionPage)
async def list_sessions(
    actor: ActorDep,
    m: ManagerDep,
    state: Literal["running", "finished", "all"] = "all",
    type: SessionType | None = None,  # noqa: A002 - the API's field name
    name: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    sort: Annotated[SortKey, Query(description="Field to sort by; '-' for descending.")] = (
        "-created_at"
    ),
) -> Response:
    """Newest first by default. ``running`` means not yet ended (including PENDING)."""
    rows, total, counts = await svc.list_sessions(
        m, actor, state, type, name, offset, limit, sort
    )
    page = SessionPage(
        items=await sessions_out(m, rows), total=total, offset=offset, limit=limit, counts=counts
    )
    # Serialized here: FastAPI would dump the page, validate it again and encode it, which
    # costs four times as much for a page of 50 (the list is the busiest read).
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/{ref}", responses=NOT_FOUND)
async def get_session(ref: str, actor: ActorDep, m: ManagerDep) -> SessionDetailOut:
    """A session by id or name, with its full status history and, while RUNNING, its idle
    checks (``idle``: remaining time per check, the utilization averages)."""
    row, history = await svc.session_history(m, actor, ref)
    [out] = await sessions_out(m, [row])
    return SessionDetailOut(
        **out.model_dump(), history=[HistoryOut.model_validate(h) for h in history],
        idle=await session_idle(m, row.id) if row.status is SessionStatus.RUNNING else None,
    )


@router.get("/{ref}/usage", responses=NOT_FOUND)
async def get_session_usage(ref: str, actor: ActorDep, m: ManagerDep) -> SessionUsageOut:
    """Live usage of each kernel (CPU, memory, network, disk I/O, accelerator): the newest
    sample and the recent ones, oldest first, as the agents sample them every ``interval``
    seconds. Kept in the manager's memory: empty before the first sample, after the session
    ended, and for a moment after a manager restart (until the agents send their windows
    again)."""
    return await session_usage_of(m, actor, ref)


@router.patch("/{ref}", responses={**NOT_FOUND, **ENDED_CONFLICT})
async def update_session(
    ref: str, body: SessionUpdate, actor: ActorDep, m: ManagerDep
) -> SessionOut:
    """Rename a RUNNING session (owner only)."""
    row = await svc.rename(m, actor, ref, body.name)
    [out] = await sessions_out(m, [row])
    return out


async def _terminate(m: ManagerDep, actor: ActorDep, ref: str, force: bool) -> SessionOut:
    [out] = await sessions_out(m, [await svc.terminate_session(m, actor, ref, force)])
    return out


@router.post("/{ref}/terminate", status_code=202, responses={**NOT_FOUND, **ENDED_CONFLICT})
async def terminate_session(
    ref: str, actor: ActorDep, m: ManagerDep, body: TerminateIn | None = None
) -> SessionOut:
    """End a session: PENDING ones are cancelled, others stopped (SIGTERM, then SIGKILL after
    10 s). ``force`` kills at once in any status, even when the agent is unreachable. Data in
    the scratch home /home/work is lost."""
    return await _terminate(m, actor, ref, bool(body and body.force))


@router.post("/terminate", status_code=202)
async def terminate_many(body: BulkTerminateIn, actor: ActorDep, m: ManagerDep) -> dict[str, str]:
    """Terminate several sessions; returns each id with "ok" or the reason it was refused."""
    results = {}
    for ref in body.ids:
        try:
            await _terminate(m, actor, ref, body.force)
            results[ref] = "ok"
        except (svc.NotFound, svc.Forbidden, svc.Conflict) as e:
            results[ref] = str(e)
    return results


@router.get(
    "/{ref}/logs",
    response_class=StreamingResponse,
    responses={**NOT_FOUND, **AGENT_ERRORS, 200: {"content": {"text/plain": {}}}},
)
async def session_logs(
    ref: str,
    actor: ActorDep,
    m: ManagerDep,
    kernel: str | None = None,
    follow: bool = False,
    tail: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> StreamingResponse:
    """Container logs (stdout and stderr) of one kernel, ``kernel`` naming it by id or by its
    hostname in a cluster (main1, sub1, ...; default: the main one). Available
    after the session ended too. ``follow`` streams new lines until the kernel stops."""
    agent_id, address, kernel_id = await svc.log_source(m, actor, ref, kernel)
    try:  # bounded: an agent that does not answer is a 503/504 naming it (see app.py)
        stream = await m.agents.logs(address, kernel_id, follow, tail, agent=agent_id)
    except KeyError as e:
        raise HTTPException(404, "the agent has no logs for this kernel") from e
    if follow and (session_id := await visible_session_id(m, actor, ref)) is not None:
        stream = held_while_open(m.activity, session_id, stream)  # traffic while followed
    return StreamingResponse(stream, media_type="text/plain; charset=utf-8")
