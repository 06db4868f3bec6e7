"""Raw tus requests for tests (independent of the SDK's client): create, append, offset, and
a PATCH whose connection drops halfway."""

from __future__ import annotations

import base64
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

TUS = {"Tus-Resumable": "1.0.0"}


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(http: httpx.Client, folder: str, path: str, size: int, **extra: str) -> httpx.Response:
    return http.post("/api/uploads", headers={**TUS, "Upload-Length": str(size),
                                              "Upload-Metadata": metadata(
                                                  folder=folder, path=path,
                                                  filename=path.rsplit("/", 1)[-1],
                                                  filetype="application/octet-stream",
                                                  **extra)})


def append(http: httpx.Client, location: str, offset: int, data: bytes) -> httpx.Response:
    return http.patch(location, content=data, headers={
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})


def offset(http: httpx.Client, location: str) -> int:
    r = http.head(location, headers=TUS)
    r.raise_for_status()
    return int(r.headers["Upload-Offset"])


def upload(http: httpx.Client, folder: str, path: str, data: bytes, chunk: int = 1 << 20
           ) -> httpx.Response:
    r = create(http, folder, path, len(data))
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    sent = 0
    while sent < len(data) or not data:
        r = append(http, location, sent, data[sent:sent + chunk])
        if r.status_code != 204:
            return r
        sent = int(r.headers["Upload-Offset"])
        if not data:
            break
    return r


def dropped_patch(base_url: str, location: str, headers: dict[str, Any], offset: int,
                  data: bytes, send: int) -> None:
    """Start a PATCH declaring all of ``data`` but send only ``send`` bytes, then close the
    connection: a dropped upload."""
    url = urlsplit(base_url)
    path = urlsplit(location).path
    lines = [f"PATCH {path} HTTP/1.1", f"Host: {url.netloc}", "Tus-Resumable: 1.0.0",
             f"Upload-Offset: {offset}", "Content-Type: application/offset+octet-stream",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with socket.create_connection((url.hostname, url.port)) as s:
        s.sendall("\r\n".join(lines).encode() + data[:send])
        s.shutdown(socket.SHUT_WR)
