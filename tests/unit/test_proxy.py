"""The app proxy against small local backends (no containers): framing, permits, upgrades,
errors, closing. The same proxy is tested with real kernels in tests/integration/test_apps.py."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from berth.domain.credentials import carries_berth_credential, is_berth_cookie
from berth.proxy.access import Route, make_permit
from berth.proxy.http1 import RequestHead, render_head
from berth.proxy.server import AppProxy

SECRET = b"s" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Backend:
    """Records every byte it receives; answers each request head with 200 and the head's
    byte count, or switches to echo on an Upgrade."""

    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    server: asyncio.Server | None = None

    async def start(self) -> Backend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.received += head
                if b"upgrade: websocket" in head.lower():
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n\r\n")
                    while data := await reader.read(65536):
                        writer.write(data.upper())
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if b"transfer-encoding: chunked" in head.lower():
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        self.received += size_line
                        size = int(size_line.split(b";")[0].strip(), 16)
                        chunk = await reader.readexactly(size + 2)
                        self.received += chunk
                        if size == 0:
                            break
                body = await reader.readexactly(length) if length else b""
                self.received += body
                answer = f"head={len(head)} body={len(body)}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test on both loops: the manager runs on uvloop, whose transports differ."""
    if request.param == "uvloop":
        import uvloop

        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = await Backend().start()
    yield b
    await b.stop()


@pytest.fixture
async def proxy() -> AsyncIterator[AppProxy]:
    p = AppProxy(SECRET)
    yield p
    await p.close_all()


def route_to(backend: Backend, **kw: object) -> Route:
    values: dict[str, object] = dict(id="r1", proxy_port=free_port(), session_id="s1", app="app",
                                     protocol="http", target_host="127.0.0.1",
                                     host_port=backend.port)
    values.update(kw)
    return Route(**values)  # type: ignore[arg-type]


async def exchange(port: int, data: bytes, until: bytes = b"", read_all: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    try:
        async with asyncio.timeout(10):
            if read_all:
                got = await reader.read(-1)
            else:
                while until not in got:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    got += chunk
    finally:
        writer.close()
    return got


async def test_private_route_needs_a_permit_and_strips_it(proxy: AppProxy,
                                                          backend: Backend) -> None:
    route = route_to(backend, headers={"Authorization": "token abc"})
    await proxy.open(route)
    denied = await exchange(route.proxy_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", read_all=True)
    assert denied.startswith(b"HTTP/1.1 403") and b"owner" in denied
    token = proxy.issue_token(route)
    permit = await exchange(route.proxy_port, f"GET /__berth__/permit?token={token}&next=/lab "
                            "HTTP/1.1\r\nHost: x\r\n\r\n".encode(), read_all=True)
    assert permit.startswith(b"HTTP/1.1 302") and b"Location: /lab" in permit
    assert f"Set-Cookie: berth_app_{route.proxy_port}=".encode() in permit
    again = await exchange(route.proxy_port, f"GET /__berth__/permit?token={token} HTTP/1.1\r\n"
                           "Host: x\r\n\r\n".encode(), read_all=True)
    assert again.startswith(b"HTTP/1.1 403")
    cookie = make_permit(SECRET, route, proxy.clock())
    ok = await exchange(route.proxy_port, f"GET /a HTTP/1.1\r\nHost: x\r\nCookie: other=1; "
                        f"berth_app_{route.proxy_port}={cookie}\r\nAuthorization: forged\r\n\r\n"
                        .encode(), until=b"body=0")
    assert ok.startswith(b"HTTP/1.1 200")
    assert b"Cookie: other=1" in backend.received and b"berth_app_" not in backend.received
    assert b"Authorization: token abc" in backend.received and b"forged" not in backend.received
    assert proxy.last_traffic["s1"] > 0


async def test_bodies_pipelining_and_chunks_arrive_intact(proxy: AppProxy,
                                                          backend: Backend) -> None:
    route = route_to(backend, public=True)
    await proxy.open(route)
    body = b"x" * 300_000
    requests = (b"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                + b"POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
                + b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = await exchange(route.proxy_port, requests, until=b"head=28 body=0")
    assert got.count(b"HTTP/1.1 200") == 3
    assert b"body=300000" in got
    assert b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n" in backend.received
    assert backend.received.count(b"HTTP/1.1\r\n") == 3


async def test_upgrade_becomes_a_two_way_copy(proxy: AppProxy, backend: Backend) -> None:
    route = route_to(backend, public=True)
    await proxy.open(route)
    reader, writer = await asyncio.open_connection("127.0.0.1", route.proxy_port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                 b"\r\n\r\nearly")
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert await reader.readexactly(5) == b"EARLY"
        for i in range(50):
            writer.write(b"msg%d;" % i)
            assert await reader.readexactly(len(b"msg%d;" % i)) == b"MSG%d;" % i
    assert proxy.connections() == 1
    await proxy.close(route.proxy_port)  # the route ends: live connections are cut
    async with asyncio.timeout(10):
        assert await reader.read() == b""
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", route.proxy_port)


async def test_bad_requests_and_a_missing_app(proxy: AppProxy, backend: Backend) -> None:
    route = route_to(backend, public=True)
    await proxy.open(route)
    assert (await exchange(route.proxy_port, b"HELLO\r\n\r\n", read_all=True)).startswith(
        b"HTTP/1.1 400")
    huge = b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"
    try:
        answer = await exchange(route.proxy_port, huge, read_all=True)
    except ConnectionResetError:  # refused while the client was still sending
        answer = b""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
    assert not backend.received  # nothing of it went to the app
    both = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert (await exchange(route.proxy_port, both, read_all=True)).startswith(b"HTTP/1.1 400")
    gone = route_to(backend, id="r2", public=True, host_port=free_port())
    await proxy.open(gone)
    answer = await exchange(gone.proxy_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", read_all=True)
    assert answer.startswith(b"HTTP/1.1 502") and b"does not answer" in answer
    # Accepted, then hung up on without a word (the engine's port with no server inside).
    mute = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    hangs_up = route_to(backend, id="r5", public=True,
                        host_port=mute.sockets[0].getsockname()[1])
    await proxy.open(hangs_up)
    answer = await exchange(hangs_up.proxy_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                            read_all=True)
    assert answer.startswith(b"HTTP/1.1 502") and b"nothing listens" in answer
    mute.close()


async def test_allowlist_and_tcp_routes(proxy: AppProxy, backend: Backend) -> None:
    blocked = route_to(backend, public=True, allowed_ips=("10.0.0.0/8",))
    await proxy.open(blocked)
    answer = await exchange(blocked.proxy_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", read_all=True)
    assert answer.startswith(b"HTTP/1.1 403") and b"127.0.0.1" in answer
    tcp = route_to(backend, id="r3", protocol="tcp", allowed_ips=("127.0.0.1/32",))
    await proxy.open(tcp)
    got = await exchange(tcp.proxy_port, b"GET / HTTP/1.1\r\nCookie: berth_app_1=x\r\n\r\n",
                         until=b"body=0")
    assert got.startswith(b"HTTP/1.1 200") and b"berth_app_1=x" in backend.received  # raw
    tcp_blocked = route_to(backend, id="r4", protocol="tcp", allowed_ips=("10.0.0.1",))
    await proxy.open(tcp_blocked)
    assert await exchange(tcp_blocked.proxy_port, b"x", read_all=True) == b""


async def test_connections_are_released(proxy: AppProxy, backend: Backend) -> None:
    route = route_to(backend, public=True)
    await proxy.open(route)
    for _ in range(20):
        await asyncio.gather(*(exchange(route.proxy_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                        until=b"body=0") for _ in range(25)))

    async with asyncio.timeout(10):  # closing is asynchronous: wait for it, with a deadline
        while proxy.connections():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


# ---- no Berth credential reaches an app (pure: render_head) -------------------------------
API_KEY = "BK0123456789ABCDEF01.s3cr3t-s3cr3t"


def forwarded(*headers: tuple[str, str], extra: dict[str, str] | None = None) -> str:
    head = RequestHead("GET", "/x", "HTTP/1.1", [("Host", "apps.example"), *headers])
    return render_head(head, extra or {}).decode("latin-1")


def test_every_berth_cookie_is_stripped_and_others_kept() -> None:
    out = forwarded(("Cookie", "theme=dark; berth_login=abc.def; berth_token=" + API_KEY),
                    ("Cookie", "berth_app_10100=r1.1.sig; _xsrf=2; BERTH_LOGIN=x; berth_app_7=y"),
                    ("Cookie", "berth_login=only"))
    assert "theme=dark" in out and "_xsrf=2" in out
    for gone in ("berth_login", "berth_token", "berth_app_", "BERTH_LOGIN", API_KEY, "only"):
        assert gone not in out
    assert out.count("Cookie:") == 2  # the header holding only Berth cookies is gone


@pytest.mark.parametrize("value", [
    f"Bearer {API_KEY}", f"bearer {API_KEY}", API_KEY, f"token {API_KEY}",
    "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode(),
    "Basic " + base64.b64encode(f"user:{API_KEY}".encode()).decode(),
    "Basic " + base64.b64encode(f"user:{API_KEY}".encode()).decode().rstrip("="),
    f"Bearer {API_KEY.lower()}",
])
def test_authorization_with_a_berth_api_key_is_stripped(value: str) -> None:
    out = forwarded(("Authorization", value), ("Proxy-Authorization", value))
    assert "Authorization" not in out and "s3cr3t" not in out


def test_other_authorization_and_the_routes_own_headers_go_through() -> None:
    basic = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    assert f"Authorization: {basic}" in forwarded(("Authorization", basic))
    assert "Authorization: Bearer eyJhbGciOi.app-jwt" in forwarded(
        ("Authorization", "Bearer eyJhbGciOi.app-jwt"))
    out = forwarded(("Authorization", f"Bearer {API_KEY}"),
                    extra={"Authorization": "token jupyter-token"})
    assert out.count("Authorization") == 1 and "Authorization: token jupyter-token" in out


def test_credential_shapes() -> None:
    assert is_berth_cookie("berth_login") and is_berth_cookie("berth_app_10100")
    assert is_berth_cookie("berth_token") and not is_berth_cookie("_xsrf")
    assert carries_berth_credential(f"Bearer {API_KEY}")
    assert not carries_berth_credential("Bearer BKnot-a-key.x")
    assert not carries_berth_credential("Basic %%%not-base64")


async def test_an_app_sees_no_login_cookie_nor_api_key(proxy: AppProxy, backend: Backend) -> None:
    """Over the wire, on a public route and through a WebSocket upgrade too."""
    route = route_to(backend, public=True, headers={"X-App": "1"})
    await proxy.open(route)
    creds = (f"Cookie: berth_login=L1.secret-login; berth_token={API_KEY}; "
             f"berth_app_{route.proxy_port}=p; keep=1\r\nAuthorization: Bearer {API_KEY}\r\n")
    ok = await exchange(route.proxy_port, f"GET / HTTP/1.1\r\nHost: x\r\n{creds}\r\n".encode(),
                        until=b"body=0")
    assert ok.startswith(b"HTTP/1.1 200")
    upgraded = await exchange(route.proxy_port, f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
                              f"\r\nConnection: Upgrade\r\n{creds}\r\nping".encode(), until=b"PING")
    assert b"101" in upgraded
    seen = bytes(backend.received)
    assert seen.count(b"Cookie: keep=1") == 2 and seen.count(b"X-App: 1") == 2
    for gone in (b"berth_", b"secret-login", API_KEY.encode(), b"Authorization"):
        assert gone not in seen
