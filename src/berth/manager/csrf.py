"""No cross-site request forgery: a state change authenticated by the login cookie is accepted
only from a page of the manager's own origin.

Browsers send a host's cookies to every port of it, and ``SameSite`` treats all ports of a
host as one site: a page served by an app-proxy port (another user's code) could otherwise
drive the manager with its visitors' logins. So every request with a method other than
GET/HEAD/OPTIONS, and every WebSocket handshake, that carries no ``Authorization`` header must
show the manager's own origin (scheme, host and port) in ``Origin`` or, without ``Origin``,
``Sec-Fetch-Site: same-origin``. API-key requests (``Authorization``) are unaffected: a page of
another origin cannot send that header without a CORS preflight, which the manager refuses.

:func:`refusal` decides (pure); :class:`CsrfGuard` is the ASGI shell around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from berth.domain.credentials import LOGIN_COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEMES = {"ws": "http", "wss": "https"}


def normalize_origin(value: str) -> str | None:
    """``scheme://host:port`` in lower case with the port always written, or None when
    ``value`` is no http(s) origin (``null``, garbage, another scheme)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = _SCHEMES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def own_origin(scheme: str, host: str) -> str | None:
    """The origin a request was sent to: its scheme and its ``Host`` header."""
    return normalize_origin(f"{scheme}://{host}") if host else None


@dataclass(frozen=True)
class RequestFacts:
    """What the decision needs from a request. ``websocket``: a WebSocket handshake (its
    method is GET, yet it opens a channel that acts)."""

    method: str
    scheme: str
    host: str
    origin: str | None = None
    fetch_site: str | None = None
    authorization: bool = False
    login_cookie: bool = False
    websocket: bool = False


def refusal(facts: RequestFacts, public_origins: frozenset[str] = frozenset()) -> str | None:
    """Why the request must be refused with 403, or None to let it through.

    ``public_origins``: further origins that are the manager's own (normalized, see
    :func:`normalize_origin`), e.g. its public URL behind a reverse proxy that rewrites
    ``Host``. Requests without browser signals (no ``Origin``, no ``Sec-Fetch-Site``) pass
    unless they carry the login cookie: they come from programs, not pages."""
    if facts.authorization or (facts.method.upper() in SAFE_METHODS and not facts.websocket):
        return None
    own = {o for o in (own_origin(facts.scheme, facts.host),) if o} | public_origins
    if facts.origin is not None:
        if normalize_origin(facts.origin) in own:
            return None
        return (f"cross-origin request refused: a page of {facts.origin} may not change "
                "anything in Berth with your login")
    if facts.fetch_site is not None:
        if facts.fetch_site.strip().lower() == "same-origin":
            return None
        return (f"cross-site request refused (Sec-Fetch-Site: {facts.fetch_site}): only "
                "Berth's own pages may change anything with your login")
    if facts.login_cookie:
        return ("a request authenticated by the login cookie must show its origin (Origin "
                "header); programs use an API key in 'Authorization' instead")
    return None


def facts_of(scope: Scope) -> RequestFacts:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:  # a repeated Origin becomes no origin at all: refused
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    websocket = scope["type"] == "websocket"
    return RequestFacts(
        method="GET" if websocket else scope.get("method", "GET"),
        scheme=scope.get("scheme", "http"),
        host=headers.get("host", ""),
        origin=headers.get("origin"),
        fetch_site=headers.get("sec-fetch-site"),
        authorization=bool(headers.get("authorization", "").strip()),
        login_cookie=LOGIN_COOKIE in cookie_parser(headers.get("cookie", "")),
        websocket=websocket,
    )


class CsrfGuard:
    """ASGI middleware applying :func:`refusal`: a 403 JSON answer for HTTP, a refused
    handshake (HTTP 403) for WebSockets. ``public_url``: the manager's URL as browsers see it,
    when that differs from what reaches it (empty: none)."""

    def __init__(self, app: ASGIApp, public_url: str = "") -> None:
        self.app = app
        extra = normalize_origin(public_url) if public_url else None
        self.public_origins = frozenset({extra} if extra else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = refusal(facts_of(scope), self.public_origins)
            if reason is not None:
                if scope["type"] == "http":
                    answer = JSONResponse({"detail": reason}, status_code=403)
                    await answer(scope, receive, send)
                else:
                    await WebSocketClose(code=1008, reason=reason[:120])(scope, receive, send)
                return
        await self.app(scope, receive, send)
