"""The event stream (server-sent events) of session status changes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from berth.manager import access
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.events import IdleWarningEvent, SessionStatusEvent, event_json
from berth.manager.services.activity import visible_session_id

router = APIRouter(prefix="/api", tags=["events"])


class EventStream(EventSourceResponse):
    # Declared on the class so that the OpenAPI document lists the events under it.
    media_type = "text/event-stream"


@router.get(
    "/events",
    response_class=EventStream,
    responses={200: {"model": SessionStatusEvent | IdleWarningEvent,
                     "description": "Server-sent events; each ``data`` is one event's JSON."}},
)
async def events(
    actor: ActorDep, m: ManagerDep, session_id: str | None = None
) -> EventStream:
    """Server-sent events for the sessions you may see, as they happen: ``session.status``
    (data: JSON with the session id, name, status, status_info, result and exit_code) and
    ``session.idle-warning`` (an idle check will reclaim the session soon: the check, its
    deadline and a message). Optionally only one session's events."""

    # A stream filtered to a session its caller may see counts as traffic while open.
    watched = await visible_session_id(m, actor, session_id) if session_id else None

    async def stream() -> AsyncIterator[dict[str, str]]:
        with m.activity.hold(watched) if watched else contextlib.nullcontext():
            events = await m.bus.subscribe()
            yield {"event": "ready", "data": "{}"}  # from here on, nothing is missed
            async for event in events:
                if session_id and event.session_id != session_id:
                    continue
                if access.can_see(actor, event):
                    yield {"event": event.type, "data": event_json(event)}

    return EventStream(stream(), ping=15)
