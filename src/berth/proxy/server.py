"""The app proxy's I/O shell: one listening socket per opened app.

HTTP routes: every request head is parsed (and checked by :func:`access.decide`), every Berth
credential is removed (:func:`http1.render_head`) and the route's headers added, the body is
framed through; responses are copied back as raw bytes. An ``Upgrade`` request (WebSocket)
turns the connection into a raw two-way copy once allowed. TCP routes (ssh) are a raw copy
from the start, after the IP check. The target is always the route's own: nothing in a
request can change where it goes.

Connections are asyncio protocols rather than streams: bytes are handed from one transport to
the other inside ``data_received``, with flow control through pause/resume of the other side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import cast

from berth.proxy import access
from berth.proxy.access import Deny, Forward, Route, SetPermit, TokenBook
from berth.proxy.http1 import MAX_HEAD, BadRequest, parse_head, render_head, response


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
        self._conns: dict[int, set[_Connection]] = {}

    async def open(self, route: Route) -> None:
        """Start serving ``route``; replaces a route on the same port. Raises OSError when
        the port cannot be bound."""
        if route.proxy_port in self._servers:
            if self.routes[route.proxy_port] == route:
                return
            await self.close(route.proxy_port)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self, route), self.host,
                                          route.proxy_port, reuse_address=True)
        self._servers[route.proxy_port] = server
        self._conns[route.proxy_port] = set()
        self.routes[route.proxy_port] = route

    async def close(self, port: int) -> None:
        """Stop serving ``port`` and cut its connections. Idempotent."""
        server = self._servers.pop(port, None)
        self.routes.pop(port, None)
        for conn in self._conns.pop(port, set()):
            conn.abort()
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def close_all(self) -> None:
        for port in list(self._servers):
            await self.close(port)

    def issue_token(self, route: Route) -> str:
        return self.tokens.issue(route.id, self.clock())

    def connections(self) -> int:
        return sum(len(c) for c in self._conns.values())


class _Upstream(asyncio.Protocol):
    """The proxy's connection to the kernel: whatever it sends goes to the client as is."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.answered = False

    def data_received(self, data: bytes) -> None:
        self.answered = True
        self.conn.touch()
        self.conn.client.write(data)

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()

    def _ended(self) -> None:
        # The engine accepts on a published port even when nothing listens inside, then
        # hangs up: say so instead of an empty reply.
        conn = self.conn
        if not self.answered and conn.route.protocol == "http" and not conn.client.is_closing():
            self.answered = True
            conn.client.write(_not_answering(conn.route))
        self.conn.client.close()  # after what is buffered

    def pause_writing(self) -> None:
        self.conn.client.pause_reading()

    def resume_writing(self) -> None:
        self.conn.client.resume_reading()


def _not_answering(route: Route) -> bytes:
    return response(502, "Bad Gateway", f"The app '{route.app}' does not answer (yet): "
                    "nothing listens on its port in the session. Try again in a moment.")


class _Connection(asyncio.Protocol):
    """One client connection on a route's port; parses request heads (HTTP routes) until the
    connection becomes a raw copy (an upgrade, or a TCP route)."""

    client: asyncio.Transport

    def __init__(self, proxy: AppProxy, route: Route) -> None:
        self.proxy = proxy
        self.route = route
        self.up: asyncio.Transport | None = None
        self.connecting = False
        self.pending: list[bytes] = []
        self.buf = bytearray()
        self.state = "head"  # head, length, chunk-size, chunk-data, trailer, splice, closed
        self.remaining = 0
        self.peer = ""
        self.client_eof = False

    # ---- life ----
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        conns = self.proxy._conns.get(self.route.proxy_port)
        if conns is None:  # the route closed while this connection was accepted
            self.client.abort()
            self.state = "closed"
            return
        conns.add(self)
        if self.route.protocol == "tcp":
            if not access.ip_allowed(self.route, self.peer):
                self.state = "closed"
                self.client.abort()
                return
            self.state = "splice"
            self._connect()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        conns = self.proxy._conns.get(self.route.proxy_port)
        if conns is not None:
            conns.discard(self)
        if self.up is not None:
            self.up.close()

    def abort(self) -> None:
        self.state = "closed"
        self.client.abort()
        if self.up is not None:
            self.up.abort()

    def touch(self) -> None:
        self.proxy.last_traffic[self.route.session_id] = self.proxy.clock()

    def eof_received(self) -> bool:
        self.client_eof = True
        if self.up is not None and self.up.can_write_eof():
            self.up.write_eof()
        return True  # keep sending the answer

    def pause_writing(self) -> None:
        if self.up is not None:
            self.up.pause_reading()

    def resume_writing(self) -> None:
        if self.up is not None:
            self.up.resume_reading()

    # ---- upstream ----
    def _connect(self) -> None:
        self.connecting = True
        self.client.pause_reading()  # until there is somewhere to put the bytes
        asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            up, _ = await loop.create_connection(
                lambda: _Upstream(self), self.route.target_host, self.route.host_port)
        except OSError:
            if self.state != "closed":
                if self.route.protocol == "http":
                    self.client.write(_not_answering(self.route))
                self.state = "closed"
                self.client.close()
            return
        if self.state == "closed":
            up.close()
            return
        self.up = up
        self.connecting = False
        for data in self.pending:
            self.up.write(data)
        self.pending.clear()
        if self.client_eof and self.up.can_write_eof():
            self.up.write_eof()
        self.client.resume_reading()

    def _send(self, data: bytes) -> None:
        if self.up is not None:
            self.up.write(data)
        else:
            self.pending.append(data)

    # ---- client bytes ----
    def data_received(self, data: bytes) -> None:
        if self.state == "splice":
            self.touch()
            self._send(data)
            return
        if self.state == "closed":
            return
        self.buf += data
        try:
            self._process()
        except BadRequest as e:
            self._refuse(response(400, "Bad Request", str(e)))

    def _refuse(self, answer: bytes) -> None:
        """Answer without the app and close, unless answers of the app may be in flight (they
        would interleave): then just cut."""
        self.state = "closed"
        if self.up is None and not self.connecting:
            self.client.write(answer)
            self.client.close()
        else:
            self.abort()

    def _process(self) -> None:
        buf = self.buf
        while buf and self.state not in ("closed", "splice"):
            if self.state == "head":
                end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
                if end < 0:
                    if len(buf) >= MAX_HEAD:
                        self._refuse(response(431, "Request Header Fields Too Large",
                                              f"A request head may have {MAX_HEAD} bytes."))
                    return
                raw = bytes(buf[:end + 4])
                del buf[:end + 4]
                self._on_head(raw)
            elif self.state in ("length", "chunk-data"):
                take = min(self.remaining, len(buf))
                self._send(bytes(buf[:take]))
                del buf[:take]
                self.remaining -= take
                if not self.remaining:
                    self.state = "head" if self.state == "length" else "chunk-size"
            else:  # chunk-size or trailer: one line
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 4096:
                        raise BadRequest("chunk line too long")
                    return
                line = bytes(buf[:end + 2])
                del buf[:end + 2]
                self._send(line)
                if self.state == "trailer":
                    if line == b"\r\n":
                        self.state = "head"
                    continue
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError as e:
                    raise BadRequest("bad chunk size") from e
                self.state, self.remaining = ("trailer", 0) if size == 0 else ("chunk-data",
                                                                              size + 2)

    def _on_head(self, raw: bytes) -> None:
        head = parse_head(raw)
        kind, length = head.body_framing()
        now = self.proxy.clock()
        self.proxy.last_traffic[self.route.session_id] = now
        decision = access.decide(self.route, head, self.peer, now, self.proxy.secret,
                                 self.proxy.tokens)
        if not isinstance(decision, Forward):
            self._refuse(_answer(decision))
            return
        self._send(render_head(head, self.route.headers))
        if self.up is None and not self.connecting:
            self._connect()
        if head.is_upgrade:
            self.state = "splice"
            if self.buf:
                self._send(bytes(self.buf))
                self.buf.clear()
        elif kind == "length":
            self.state, self.remaining = "length", length
        elif kind == "chunked":
            self.state = "chunk-size"


def _answer(decision: SetPermit | Deny) -> bytes:
    if isinstance(decision, SetPermit):
        return response(302, "Found", "Redirecting into the app.",
                        {"Location": decision.location, "Set-Cookie": decision.cookie})
    return response(decision.status, decision.reason, decision.message)
