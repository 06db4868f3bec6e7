"""Cross-site request forgery: the pure decision, and the middleware in a small app."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from berth.manager.csrf import CsrfGuard, RequestFacts, normalize_origin, refusal

MANAGER = "127.0.0.1:8090"


def facts(**kw: object) -> RequestFacts:
    values: dict[str, object] = dict(method="POST", scheme="http", host=MANAGER,
                                     login_cookie=True)
    values.update(kw)
    return RequestFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8090", "HTTP://127.0.0.1:8090", "http://127.0.0.1:8090/",
])
def test_own_origin_passes(origin: str) -> None:
    assert refusal(facts(origin=origin)) is None


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:10100",  # an app-proxy port: same host, another origin
    "https://127.0.0.1:8090",  # another scheme
    "http://localhost:8090",  # another host name
    "http://127.0.0.1",  # port 80
    "http://evil.example",
    "null",  # sandboxed frames, file:// pages
    "http://127.0.0.1:8090, http://evil.example",  # repeated Origin headers
    "http://[::1:8090",
])
def test_any_other_origin_is_refused(origin: str) -> None:
    reason = refusal(facts(origin=origin))
    assert reason is not None and "refused" in reason


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post", "PROPFIND"])
def test_every_unsafe_method_is_checked(method: str) -> None:
    assert refusal(facts(method=method, origin="http://127.0.0.1:10100")) is not None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass(method: str) -> None:
    assert refusal(facts(method=method, origin="http://evil.example")) is None


def test_websocket_handshakes_are_checked_although_get() -> None:
    assert refusal(facts(method="GET", websocket=True, scheme="ws",
                         origin="http://127.0.0.1:10100")) is not None
    assert refusal(facts(method="GET", websocket=True, scheme="ws",
                         origin="http://127.0.0.1:8090")) is None


def test_api_key_requests_are_unaffected() -> None:
    assert refusal(facts(authorization=True, origin="http://evil.example")) is None
    assert refusal(facts(authorization=True, login_cookie=False)) is None


def test_without_origin_sec_fetch_site_decides() -> None:
    assert refusal(facts(fetch_site="same-origin")) is None
    for site in ("same-site", "cross-site", "none"):
        assert refusal(facts(fetch_site=site)) is not None


def test_a_cookie_without_any_browser_signal_is_refused_a_program_without_one_passes() -> None:
    assert refusal(facts()) is not None
    assert refusal(facts(login_cookie=False)) is None


def test_cross_origin_login_is_refused_even_without_a_cookie() -> None:
    assert refusal(facts(login_cookie=False, origin="http://127.0.0.1:10100")) is not None
    assert refusal(facts(login_cookie=False, fetch_site="cross-site")) is not None


def test_public_url_behind_a_reverse_proxy() -> None:
    public = frozenset({normalize_origin("https://berth.example.com")} - {None})
    behind = facts(host="10.0.0.5:8090", origin="https://berth.example.com")
    assert refusal(behind) is not None
    assert refusal(behind, public) is None  # type: ignore[arg-type]
    assert normalize_origin("https://berth.example.com") == "https://berth.example.com:443"
    assert normalize_origin("http://[::1]:8090") == "http://[::1]:8090"
    assert refusal(facts(host="", origin="http://127.0.0.1:8090")) is not None


# ---- the middleware -----------------------------------------------------------------------
async def _ok(_: Request) -> PlainTextResponse:
    return PlainTextResponse("done")


async def _ws(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text("hello")
    await ws.close()


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/act", _ok, methods=["GET", "POST", "DELETE"]),
                            WebSocketRoute("/ws", _ws)])
    guarded = CsrfGuard(app, public_url="https://berth.example.com")
    return TestClient(guarded, base_url="http://127.0.0.1:8090")


def test_middleware_refuses_with_403(client: TestClient) -> None:
    client.cookies.set("berth_login", "id.secret")
    evil = {"Origin": "http://127.0.0.1:10100"}
    for method in ("POST", "DELETE"):
        r = client.request(method, "/act", headers=evil)
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert client.post("/act").status_code == 403  # cookie, no Origin
    assert client.post("/act", content=b"x", headers=evil).status_code == 403
    assert client.get("/act", headers=evil).text == "done"
    assert client.post("/act", headers={"Origin": "http://127.0.0.1:8090"}).text == "done"
    assert client.post("/act", headers={"Origin": "https://berth.example.com"}).text == "done"
    assert client.post("/act", headers={**evil, "Authorization": "Bearer k"}).text == "done"
    assert client.post("/act", headers={"Sec-Fetch-Site": "same-origin"}).text == "done"
    client.cookies.clear()
    assert client.post("/act").text == "done"  # a program, no cookie


def test_middleware_refuses_websocket_handshakes(client: TestClient) -> None:
    client.cookies.set("berth_login", "id.secret")
    with pytest.raises(WebSocketDisconnect) as e, client.websocket_connect(
            "ws://127.0.0.1:8090/ws", headers={"Origin": "http://127.0.0.1:10100"}):
        pass
    assert e.value.code == 1008
    with client.websocket_connect("ws://127.0.0.1:8090/ws",
                                  headers={"Origin": "http://127.0.0.1:8090"}) as ws:
        assert ws.receive_text() == "hello"
