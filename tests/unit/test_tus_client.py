"""The SDK's file transfers without a manager: ``upload()`` speaks tus 1.0.0 to a small
in-test tus server (an ``httpx.MockTransport``) that can drop connections and fail, and
``download()`` streams to a path, a directory or a stream. Both clients send the same
requests."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.client import ApiError, AsyncClient, Client, tus

BASE = "http://berth.test"


class TusServer:
    """Just enough of a tus 1.0.0 server: creation, HEAD, PATCH; ``faults`` maps the n-th
    PATCH (1-based) to what goes wrong with it."""

    def __init__(self) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}
        self.log: list[str] = []
        self.patches = 0
        self.faults: dict[int, str] = {}
        self.create_status = 201
        self.last_chunk_status = 204

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path}")
        assert request.headers["Tus-Resumable"] == "1.0.0"
        if request.method == "POST":
            return self.create(request)
        uid = request.url.path.rsplit("/", 1)[1]
        if uid not in self.uploads:
            return httpx.Response(404, json={"detail": "Not Found"})
        upload = self.uploads[uid]
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Upload-Offset": str(len(upload["data"])),
                                                "Upload-Length": str(upload["size"])})
        return self.patch(request, upload)

    def create(self, request: httpx.Request) -> httpx.Response:
        if self.create_status != 201:
            return httpx.Response(self.create_status, json={"detail": [
                {"loc": ["header", "path"], "msg": "'..' is not allowed"}]})
        pairs = dict(item.split(" ") for item in request.headers["Upload-Metadata"].split(","))
        uid = f"u{len(self.uploads) + 1}"
        self.uploads[uid] = {"size": int(request.headers["Upload-Length"]), "data": b"",
                             "metadata": {k: base64.b64decode(v).decode()
                                          for k, v in pairs.items()}}
        return httpx.Response(201, headers={"Location": f"{BASE}/api/uploads/{uid}"})

    def patch(self, request: httpx.Request, upload: dict[str, Any]) -> httpx.Response:
        assert request.headers["Content-Type"] == "application/offset+octet-stream"
        self.patches += 1
        fault = self.faults.get(self.patches)
        offset, body = int(request.headers["Upload-Offset"]), request.read()
        if offset != len(upload["data"]):
            return httpx.Response(409, json={"detail": "Offset mismatch"})
        if fault == "500":
            return httpx.Response(500, text="Internal Server Error")
        if fault == "drop":  # half the chunk arrived, then the connection broke
            upload["data"] += body[: len(body) // 2]
            raise httpx.ReadError("connection reset by peer", request=request)
        upload["data"] += body
        if len(upload["data"]) == upload["size"] and self.last_chunk_status != 204:
            return httpx.Response(self.last_chunk_status,
                                  json={"detail": "path: a directory is there"})
        return httpx.Response(204, headers={"Upload-Offset": str(len(upload["data"]))})

    def data(self, uid: str = "u1") -> bytes:
        return bytes(self.uploads[uid]["data"])


def sync_client(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    c = Client(endpoint=BASE, api_key="k")
    c.http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    return c


def async_client(handler: Callable[[httpx.Request], httpx.Response]) -> AsyncClient:
    c = AsyncClient(endpoint=BASE, api_key="k")
    c.http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler))
    return c


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tus, "CHUNK_SIZE", 1000)
    monkeypatch.setattr(tus, "BACKOFF", 0.0)


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3500)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    return path, data


def test_creation_then_chunks(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    server, seen = TusServer(), []
    with sync_client(server) as c:
        answer = c.upload("f1", path, "models/v1/", progress=lambda d, t: seen.append((d, t)))
    assert answer == {"path": "models/v1/weights.bin", "bytes": 3500}
    assert server.data() == data
    assert server.uploads["u1"]["metadata"] == {
        "folder": "f1", "path": "models/v1/weights.bin", "filename": "weights.bin",
        "filetype": "application/octet-stream"}
    assert server.log == ["POST /api/uploads"] + ["PATCH /api/uploads/u1"] * 4
    assert seen == [(0, 3500), (1000, 3500), (2000, 3500), (3000, 3500), (3500, 3500)]


def test_a_dropped_patch_resumes_from_the_servers_offset(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    server = TusServer()
    server.faults = {2: "drop", 3: "500"}
    with sync_client(server) as c:
        c.upload("f1", path, "w.bin")
    assert server.data() == data
    assert server.log == [
        "POST /api/uploads", "PATCH /api/uploads/u1",
        "PATCH /api/uploads/u1", "HEAD /api/uploads/u1",  # dropped after 500 of 1000 bytes
        "PATCH /api/uploads/u1", "HEAD /api/uploads/u1",  # from 1500: a 500
        "PATCH /api/uploads/u1", "PATCH /api/uploads/u1"]  # 1500-2500, 2500-3500


def test_too_many_failures_in_a_row_raise_the_last(blob: tuple[Path, bytes]) -> None:
    path, _ = blob
    server = TusServer()
    server.faults = dict.fromkeys(range(2, 20), "drop")
    with sync_client(server) as c, pytest.raises(httpx.ReadError):
        c.upload("f1", path, "w.bin")
    assert server.patches == 7  # the first chunk, then 1 + 5 retries without progress...
    # ...each of which still brought half of what was left of its chunk
    assert len(server.data()) < 3500


def test_refusals_are_api_errors_without_retry(blob: tuple[Path, bytes]) -> None:
    path, _ = blob
    server = TusServer()
    server.create_status = 422
    with sync_client(server) as c, pytest.raises(ApiError) as refused:
        c.upload("f1", path, "../w.bin")
    assert refused.value.status == 422 and refused.value.fields == {
        "header.path": "'..' is not allowed"}
    assert server.log == ["POST /api/uploads"]

    server = TusServer()
    server.last_chunk_status = 409  # the file could not be placed at its path
    with sync_client(server) as c, pytest.raises(ApiError) as refused:
        c.upload("f1", path, "w.bin")
    assert refused.value.status == 409 and "directory" in str(refused.value)
    assert server.log[-1] == "PATCH /api/uploads/u1" and "HEAD" not in str(server.log)


def test_an_empty_file_is_complete_once_created(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    server = TusServer()
    with sync_client(server) as c:
        assert c.upload("f1", tmp_path / "empty", "e")["bytes"] == 0
    assert server.log == ["POST /api/uploads"] and server.data() == b""


def test_a_resume_store_continues_an_interrupted_upload(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    server, store = TusServer(), {}  # type: ignore[var-annotated]

    def interrupt(done: int, total: int | None) -> None:
        if done >= 2000:
            raise KeyboardInterrupt

    with sync_client(server) as c:
        with pytest.raises(KeyboardInterrupt):
            c.upload("f1", path, "w.bin", progress=interrupt, resume_store=store)
        [key] = store
        assert store[key] == f"{BASE}/api/uploads/u1" and key.startswith(BASE)
        server.log.clear()
        c.upload("f1", path, "w.bin", resume_store=store)
    assert server.log == ["HEAD /api/uploads/u1", "PATCH /api/uploads/u1",
                          "PATCH /api/uploads/u1"]
    assert server.data() == data and store == {}


def test_a_stored_upload_the_server_forgot_starts_over(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    server = TusServer()
    with sync_client(server) as c:
        key = next(iter(_store_after_first_chunk(c, path)))
        store = {key: f"{BASE}/api/uploads/gone"}
        c.upload("f1", path, "w.bin", resume_store=store)
    assert server.data("u2") == data and store == {}


def _store_after_first_chunk(c: Client, path: Path) -> dict[str, str]:
    store: dict[str, str] = {}

    def stop(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        c.upload("f1", path, "w.bin", progress=stop, resume_store=store)
    return store


async def test_the_async_client_sends_the_same_requests(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    servers = [TusServer(), TusServer()]
    for server in servers:
        server.faults = {2: "drop", 3: "500"}
    with sync_client(servers[0]) as c:
        c.upload("f1", path, "w.bin")
    a = async_client(servers[1])
    try:
        assert await a.upload("f1", path, "w.bin") == {"path": "w.bin", "bytes": 3500}
    finally:
        await a.close()
    assert servers[0].log == servers[1].log and servers[1].data() == data


# ---- download ----

def file_server(body: bytes, name: str = "result.csv", fail_after: int | None = None,
                status: int = 200, streamed: bool = True
                ) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/folders/f1/download"
        if status != 200:
            return httpx.Response(status, json={"detail": "path: no such file"})

        def chunks() -> Any:
            for i in range(0, len(body), 100):
                if fail_after is not None and i >= fail_after:
                    raise httpx.ReadError("connection reset")
                yield body[i:i + 100]
        return httpx.Response(200, content=chunks() if streamed else body, headers={
            "Content-Length": str(len(body)),
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
    return answer


def test_download_to_a_path_a_directory_or_a_stream(tmp_path: Path) -> None:
    body, seen = os.urandom(1050), []
    with sync_client(file_server(body)) as c:
        got = c.download("f1", "out/result.csv", tmp_path / "r.csv",
                         progress=lambda d, t: seen.append((d, t)))
        assert got == {"name": "result.csv", "bytes": 1050, "path": str(tmp_path / "r.csv")}
        assert (tmp_path / "r.csv").read_bytes() == body
        assert seen[0] == (100, 1050) and seen[-1] == (1050, 1050) and len(seen) == 11
        (tmp_path / "into").mkdir()
        assert c.download("f1", "x", tmp_path / "into")["path"] == str(
            tmp_path / "into" / "result.csv")
        stream = io.BytesIO()
        assert c.download("f1", "x", stream)["path"] is None
        assert stream.getvalue() == body


def test_a_server_name_cannot_leave_the_directory(tmp_path: Path) -> None:
    with sync_client(file_server(b"x", name="..%2F..%2Fevil")) as c:
        got = c.download("f1", "x", tmp_path)
    assert Path(got["path"]).parent == tmp_path and got["name"] == "evil"


def test_a_failed_download_leaves_no_file(tmp_path: Path) -> None:
    with sync_client(file_server(os.urandom(1000), fail_after=500)) as c, \
            pytest.raises(httpx.ReadError):
        c.download("f1", "x", tmp_path / "r.csv")
    with sync_client(file_server(b"", status=404)) as c, pytest.raises(ApiError) as missing:
        c.download("f1", "x", tmp_path / "r.csv")
    assert missing.value.status == 404
    assert list(tmp_path.iterdir()) == []


async def test_async_download(tmp_path: Path) -> None:
    body = os.urandom(1050)
    a = async_client(file_server(body, streamed=False))  # the mock streams only in sync
    try:
        got = await a.download("f1", "x", tmp_path)
    finally:
        await a.close()
    assert (tmp_path / "result.csv").read_bytes() == body and got["bytes"] == 1050
