"""A fast static HTTP/1.1 + WebSocket echo server: the app that ``bench_proxy.py`` runs
inside a kernel, so that what the benchmark measures is the proxy's cost, not the app's.

    python proxy_backend.py PORT

Standard library only (it runs on the kernel image's Python, ``/opt/berth/venv/bin/python``),
one ``asyncio.Protocol`` per connection, listening on ``0.0.0.0:PORT``:

- any HTTP request (its body, if it has a ``Content-Length``, is read and ignored) gets the
  same small ``200`` with a ``Content-Length``; connections are kept alive (HTTP/1.1, or 1.0
  with ``Connection: keep-alive``) and pipelined requests are answered in order;
- a ``GET`` with ``Upgrade: websocket`` gets the RFC 6455 handshake, then every data frame
  is echoed back unmasked with its opcode and FIN bit (so fragmented messages come back
  fragmented alike), a ping is answered with a pong, and a close with a close, after which
  the server closes the connection.

Bytes may arrive split anywhere across reads; everything is parsed from a buffer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import sys

BODY = b"ok\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024
MAX_PAYLOAD = 64 * 2**20
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest())


def unmask(payload: bytes | bytearray, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (done as one big integer: fast)."""
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(n, "big")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server-to-client frame (unmasked)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 2**16:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.websocket = False
        self.closing = False
        self.skip = 0  # bytes of a request body still to be discarded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buf += data
        if self.websocket:
            self.frames()
        else:
            self.requests()

    def eof_received(self) -> bool | None:
        return False  # close our side too

    # ---- HTTP ----
    def requests(self) -> None:
        assert self.transport is not None
        out: list[bytes] = []
        while not self.closing:
            if self.skip:
                n = min(self.skip, len(self.buf))
                del self.buf[:n]
                self.skip -= n
                if self.skip:
                    break
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    out.append(b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n")
                    self.closing = True
                break
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            request_line, _, rest = head.partition("\r\n")
            headers: dict[str, str] = {}
            for line in rest.split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            version = request_line.rpartition(" ")[2]
            connection = headers.get("connection", "").lower()
            if "websocket" in headers.get("upgrade", "").lower() and "sec-websocket-key" in headers:
                key = headers["sec-websocket-key"].encode("latin-1")
                out.append(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
                )
                self.transport.write(b"".join(out))
                self.websocket = True
                self.frames()
                return
            try:
                self.skip = int(headers.get("content-length", "0"))
            except ValueError:
                self.skip = 0
            out.append(RESPONSE)
            if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
                self.closing = True
        if out:
            self.transport.write(b"".join(out))
        if self.closing:
            self.transport.close()

    # ---- WebSocket ----
    def frames(self) -> None:
        assert self.transport is not None
        buf = self.buf
        out: list[bytes] = []
        pos = 0
        while not self.closing:
            if len(buf) - pos < 2:
                break
            first, second = buf[pos], buf[pos + 1]
            fin, opcode = bool(first & 0x80), first & 0x0F
            masked, n = bool(second & 0x80), second & 0x7F
            at = pos + 2
            if n == 126:
                if len(buf) - at < 2:
                    break
                (n,) = struct.unpack_from("!H", buf, at)
                at += 2
            elif n == 127:
                if len(buf) - at < 8:
                    break
                (n,) = struct.unpack_from("!Q", buf, at)
                at += 8
            if n > MAX_PAYLOAD:
                out.append(frame(OP_CLOSE, struct.pack("!H", 1009)))
                self.closing = True
                break
            mask = b""
            if masked:
                if len(buf) - at < 4:
                    break
                mask = bytes(buf[at : at + 4])
                at += 4
            if len(buf) - at < n:
                break
            payload = bytes(buf[at : at + n])
            pos = at + n
            if masked:
                payload = unmask(payload, mask)
            if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                out.append(frame(opcode, payload, fin))
            elif opcode == OP_PING:
                out.append(frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                out.append(frame(OP_CLOSE, payload[:2]))  # echo the status code, if any
                self.closing = True
            elif opcode != OP_PONG:  # unknown opcode: protocol error
                out.append(frame(OP_CLOSE, struct.pack("!H", 1002)))
                self.closing = True
        del buf[:pos]
        if out:
            self.transport.write(b"".join(out))
        if self.closing:
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "0.0.0.0", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
