"""The app proxy's I/O shell: one listening socket per opened app.

HTTP routes: every request head is parsed (and checked by :func:`access.decide`), the proxy's
own cookies are removed and the route's headers added, the body is framed through; responses
are copied back as raw bytes. An ``Upgrade`` request (WebSocket) turns the connection into a
raw two-way copy once allowed. TCP routes (ssh) are a raw copy from the start, after the IP
check. The target is always the route's own: nothing in a request can change where it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from berth.proxy import access
from berth.proxy.access import Deny, Forward, Route, SetPermit, TokenBook
from berth.proxy.http1 import MAX_HEAD, BadRequest, parse_head, render_head, response

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
HIGH_WATER = 512 * 1024


class AppProxy:
    """Listeners for routes. ``open``/``close`` may be called any time; ``close`` drops the
    route's live connections too. ``last_traffic`` maps session id -> unix time of the latest
    request or WebSocket/TCP data seen for it."""

    def __init__(self, secret: bytes, host: str = "127.0.0.1",
                 clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.host = host
        self.clock = clock
        self.tokens = TokenBook()
        self.routes: dict[int, Route] = {}
        self.last_traffic: dict[str, float] = {}
        self._servers: dict[int, asyncio.Server] = {}
        self._conns: dict[int, set[asyncio.StreamWriter]] = {}

    async def open(self, route: Route) -> None:
        """Start serving ``route``; replaces a route on the same port. Raises OSError when
        the port cannot be bound."""
        if route.port in self._servers:
            if self.routes[route.port] == route:
                return
            await self.close(route.port)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(route, reader, writer)

        server = await asyncio.start_server(handle, self.host, route.port, limit=MAX_HEAD,
                                            reuse_address=True)
        self._servers[route.port] = server
        self._conns[route.port] = set()
        self.routes[route.port] = route

    async def close(self, port: int) -> None:
        """Stop serving ``port`` and cut its connections. Idempotent."""
        server = self._servers.pop(port, None)
        self.routes.pop(port, None)
        for writer in self._conns.pop(port, set()):
            writer.transport.abort()
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def close_all(self) -> None:
        for port in list(self._servers):
            await self.close(port)

    def issue_token(self, route: Route) -> str:
        return self.tokens.issue(route.id, self.clock())

    # ---- connections ----
    async def _serve(self, route: Route, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        conns = self._conns.get(route.port)
        if conns is None:
            writer.transport.abort()
            return
        conns.add(writer)
        upstream: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        try:
            peer = writer.get_extra_info("peername") or ("", 0)
            if route.protocol == "tcp":
                if not access.ip_allowed(route, peer[0]):
                    return
                up_reader, upstream = await asyncio.open_connection(
                    route.target_host, route.target_port)
                pump = asyncio.create_task(self._copy(route, up_reader, writer))
                await self._copy(route, reader, upstream)
                await pump
                return
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    writer.write(response(431, "Request Header Fields Too Large", "Too large."))
                    return
                try:
                    head = parse_head(raw)
                    framing = head.body_framing()
                except BadRequest as e:
                    if upstream is None:
                        writer.write(response(400, "Bad Request", str(e)))
                    return
                now = self.clock()
                self.last_traffic[route.session_id] = now
                decision = access.decide(route, head, peer[0], now, self.secret, self.tokens)
                if not isinstance(decision, Forward):
                    if upstream is None:  # else responses in flight would interleave
                        writer.write(_answer(decision))
                    return
                if upstream is None:
                    try:
                        up_reader, upstream = await asyncio.open_connection(
                            route.target_host, route.target_port)
                    except OSError:
                        writer.write(response(502, "Bad Gateway", f"The app '{route.app}' "
                                              "does not answer (yet). Try again in a moment."))
                        return
                    pump = asyncio.create_task(self._copy(route, up_reader, writer))
                upstream.write(render_head(head, access.COOKIE_PREFIX, route.headers))
                if head.is_upgrade:
                    await self._copy(route, reader, upstream)
                    await pump  # type: ignore[misc]
                    return
                await _copy_body(reader, upstream, framing)
                if upstream.transport.get_write_buffer_size() > HIGH_WATER:
                    await upstream.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, BadRequest):
            pass
        finally:
            if pump is not None and not pump.done():
                pump.cancel()
            for w in (writer, upstream):
                if w is not None:
                    w.transport.abort() if w.transport.is_closing() else w.close()
            conns.discard(writer)

    async def _copy(self, route: Route, src: asyncio.StreamReader,
                    dst: asyncio.StreamWriter) -> None:
        """Copy until EOF, then half-close ``dst`` (or close it when it cannot)."""
        session = route.session_id
        try:
            while data := await src.read(CHUNK):
                self.last_traffic[session] = self.clock()
                dst.write(data)
                if dst.transport.get_write_buffer_size() > HIGH_WATER:
                    await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()
        except (ConnectionError, OSError):
            dst.transport.abort()


def _answer(decision: SetPermit | Deny) -> bytes:
    if isinstance(decision, SetPermit):
        return response(302, "Found", "Redirecting into the app.",
                        {"Location": decision.location, "Set-Cookie": decision.cookie})
    return response(decision.status, decision.reason, decision.message)


async def _copy_body(reader: asyncio.StreamReader, dst: asyncio.StreamWriter,
                     framing: tuple[str, int]) -> None:
    kind, length = framing
    if kind == "length":
        while length:
            data = await reader.read(min(length, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", length)
            dst.write(data)
            length -= len(data)
            if dst.transport.get_write_buffer_size() > HIGH_WATER:
                await dst.drain()
    elif kind == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            dst.write(size_line)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as e:
                raise BadRequest("bad chunk size") from e
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    dst.write(trailer)
                dst.write(b"\r\n")
                return
            await _copy_body(reader, dst, ("length", size + 2))  # data + CRLF
