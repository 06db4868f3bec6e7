"""Just enough HTTP/1.1 for the app proxy: parse a request head, rewrite its headers, frame
its body. Pure functions over bytes; no I/O. Responses are never parsed: the proxy copies them
through as they come, which is what keeps it fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from berth.domain.credentials import carries_berth_credential, is_berth_cookie

MAX_HEAD = 64 * 1024
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


class BadRequest(ValueError):
    """The bytes are not an HTTP/1.x request head this proxy accepts."""


@dataclass
class RequestHead:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for value in self.all("cookie"):
            try:
                jar.load(value)
            except CookieError:
                continue
        return {k: m.value for k, m in jar.items()}

    @property
    def is_upgrade(self) -> bool:
        connection = (self.get("connection") or "").lower()
        return self.get("upgrade") is not None and "upgrade" in connection

    def body_framing(self) -> tuple[str, int]:
        """("none", 0), ("length", n) or ("chunked", 0); raises BadRequest on ambiguity."""
        codings = ",".join(self.all("transfer-encoding")).split(",")
        te = [v.strip().lower() for v in codings if v.strip()]
        lengths = set(self.all("content-length"))
        if te:
            if te[-1] != "chunked" or lengths:
                raise BadRequest("unsupported transfer-encoding")
            return ("chunked", 0)
        if len(lengths) > 1:
            raise BadRequest("conflicting content-length")
        if lengths:
            raw = lengths.pop().strip()
            if not raw.isdigit():
                raise BadRequest("bad content-length")
            n = int(raw)
            return ("length", n) if n else ("none", 0)
        return ("none", 0)


def parse_head(raw: bytes) -> RequestHead:
    """Parse ``raw`` (everything up to and including the blank line)."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(str(e)) from e
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise BadRequest("bad request line")
    head = RequestHead(method=parts[0], target=parts[1], version=parts[2])
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise BadRequest("bad header line")
        head.headers.append((name, value.strip()))
    return head


def render_head(head: RequestHead, extra: dict[str, str]) -> bytes:
    """The head to forward to an app: no Berth credential left in it, ``extra`` headers (the
    route's own, e.g. Jupyter's token) replacing same-named ones.

    Removed: every cookie in Berth's namespace (the manager's login cookie, the legacy token
    cookie, and the app proxy's permits, this route's included: browsers send a host's
    cookies to all its ports), and ``Authorization``/``Proxy-Authorization`` headers holding a
    Berth API key. An app runs another user's code, so it must see none of them."""
    lower_extra = {k.lower() for k in extra}
    lines = [f"{head.method} {head.target} {head.version}"]
    for name, value in head.headers:
        low = name.lower()
        if low in lower_extra:
            continue
        if low == "cookie":
            kept = [c.strip() for c in value.split(";")
                    if c.strip() and not is_berth_cookie(c.partition("=")[0])]
            if not kept:
                continue
            value = "; ".join(kept)
        elif low in CREDENTIAL_HEADERS and carries_berth_credential(value):
            continue
        lines.append(f"{name}: {value}")
    lines.extend(f"{k}: {v}" for k, v in extra.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(status: int, reason: str, body: str, headers: dict[str, str] | None = None) -> bytes:
    """A complete small response that closes the connection."""
    data = body.encode()
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(data)}", "Connection: close", "Cache-Control: no-store"]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
