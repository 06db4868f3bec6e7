"""Who may use an app: pure decisions over a route, a request head, the client address and
the clock. No I/O: the server applies what :func:`decide` returns.

Private apps (the default) are for the session owner's browser only. Berth's API hands the
owner a URL with a one-time token (:class:`TokenBook`); the proxy redeems it on
``/__berth__/permit``, sets a permit cookie signed for that route and redirects into the app.
Public apps need no permit. Either kind may be limited to a list of client IPs/CIDRs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from berth.domain.credentials import COOKIE_NAMESPACE
from berth.proxy.http1 import RequestHead

PERMIT_PATH = "/__berth__/permit"
#: In Berth's cookie namespace, so that the proxy strips permits like every Berth cookie.
COOKIE_PREFIX = f"{COOKIE_NAMESPACE}app_"
PERMIT_TTL = 12 * 3600.0
TOKEN_TTL = 120.0


@dataclass(frozen=True)
class Route:
    """One opened app: the proxy's ``proxy_port`` forwards to ``target_host:host_port``, the
    kernel's published loopback port, and nowhere else."""

    id: str
    proxy_port: int
    session_id: str
    app: str
    protocol: str  # "http" (HTTP + WebSocket, permits) or "tcp" (raw, e.g. ssh)
    target_host: str
    host_port: int
    public: bool = False
    allowed_ips: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # added to forwarded requests

    @property
    def cookie_name(self) -> str:
        # Browsers send a host's cookies to every port of it: the name keeps permits apart.
        return f"{COOKIE_PREFIX}{self.proxy_port}"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: list[str] | tuple[str, ...]) -> list[Network]:
    """Parse IPs/CIDRs; raises ValueError naming the bad item."""
    nets: list[Network] = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as e:
            raise ValueError(f"'{item}' is not an IP address or CIDR") from e
    return nets


def ip_allowed(route: Route, client_ip: str) -> bool:
    if not route.allowed_ips:
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in parse_networks(route.allowed_ips))


def _sign(secret: bytes, message: str) -> str:
    mac = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_permit(secret: bytes, route: Route, now: float) -> str:
    expires = int(now + PERMIT_TTL)
    return f"{route.id}.{expires}.{_sign(secret, f'{route.id}.{expires}')}"


def permit_valid(secret: bytes, route: Route, value: str | None, now: float) -> bool:
    """True when ``value`` is an unexpired permit signed for this very route (a route opened
    again later, even on the same port, has a new id, so old permits do not carry over)."""
    if not value:
        return False
    route_id, _, rest = value.partition(".")
    expires, _, sig = rest.partition(".")
    if route_id != route.id or not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(sig, _sign(secret, f"{route_id}.{expires}"))


class TokenBook:
    """One-time tokens: issued by the API to the owner, redeemed once by the proxy."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, route_id: str, now: float) -> str:
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (route_id, now + TOKEN_TTL)
        return token

    def redeem(self, token: str, route_id: str, now: float) -> bool:
        entry = self._tokens.get(token)
        if entry is None or entry[0] != route_id:
            return False
        del self._tokens[token]
        return entry[1] > now


@dataclass(frozen=True)
class Forward:
    pass


@dataclass(frozen=True)
class SetPermit:
    cookie: str  # a Set-Cookie header value
    location: str


@dataclass(frozen=True)
class Deny:
    status: int
    reason: str
    message: str


Decision = Forward | SetPermit | Deny


def _safe_next(value: str | None) -> str:
    # Only a path on this same origin: never an open redirect.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def decide(
    route: Route, head: RequestHead, client_ip: str, now: float, secret: bytes, tokens: TokenBook
) -> Decision:
    """What to do with one request on ``route``'s port."""
    if not ip_allowed(route, client_ip):
        return Deny(403, "Forbidden", f"Your address {client_ip} may not use this app.")
    if head.path == PERMIT_PATH:
        query = head.query
        token = (query.get("token") or [""])[0]
        if not tokens.redeem(token, route.id, now):
            return Deny(403, "Forbidden", "This link was used already or has expired. "
                        "Open the app again from Berth.")
        cookie = (f"{route.cookie_name}={make_permit(secret, route, now)}; Path=/; HttpOnly; "
                  f"SameSite=Lax; Max-Age={int(PERMIT_TTL)}")
        return SetPermit(cookie=cookie, location=_safe_next((query.get("next") or [""])[0]))
    if route.public or permit_valid(secret, route, head.cookies().get(route.cookie_name), now):
        return Forward()
    return Deny(403, "Forbidden", "Only the session's owner may use this app: open it from "
                "Berth (or ask the owner to open it to public).")
