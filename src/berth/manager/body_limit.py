"""ASGI middleware: a request body over the limit gets a 413 naming the limit, unread.

A declared ``Content-Length`` over the limit is refused before the application runs; a body
sent without one (chunked) is counted as it arrives and refused as soon as it passes the
limit, so a client can never make the manager buffer more than the limit. Agents (their
heartbeat lists every kernel) have a larger limit of their own.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.domain import limits
from berth.domain.rules import format_bytes_limit

AGENT_PREFIX = "/api/agent/"
#: tus uploads stream their chunks to disk and are bounded by Upload-Length, which is checked
#: against the ``upload_max_size`` setting at creation (see :mod:`berth.manager.api.uploads`).
UPLOADS_PREFIX = "/api/uploads"


def too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than the limit of {format_bytes_limit(limit)} "
        f"({limit} bytes)"
    )


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


class BodyLimit:
    """Refuse request bodies over :data:`berth.domain.limits.BODY_MAX` (agents:
    :data:`~berth.domain.limits.AGENT_BODY_MAX`) with 413 ``{"detail": "..."}``."""

    def __init__(
        self, app: ASGIApp, limit: int = limits.BODY_MAX, agent_limit: int = limits.AGENT_BODY_MAX
    ) -> None:
        self.app = app
        self.limit = limit
        self.agent_limit = agent_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared < 0:
            # Not a length: a server reading the body would wait for bytes that never come.
            response = JSONResponse({"detail": "Content-Length: must be a whole number of "
                                     "bytes (0 or more)"}, status_code=400)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        if scope["path"].startswith(UPLOADS_PREFIX):
            await self.app(scope, receive, send)
            return
        limit = self.agent_limit if scope["path"].startswith(AGENT_PREFIX) else self.limit
        if declared is not None and declared > limit:
            await _refuse(limit, scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from reading the body on as it is.
                    raise _TooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:
                raise
            await _refuse(limit, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": too_large_message(limit)}, status_code=413)
    # The client may still be sending: close the connection rather than read the rest.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
