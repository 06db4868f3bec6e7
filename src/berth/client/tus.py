"""A small tus 1.0.0 client (core + creation) over httpx for ``upload()``; our own, as the
maintained Python one needs requests/aiohttp, which we do not ship. The protocol is written
once, without I/O (:func:`steps`); :func:`run` / :func:`run_async` carry it out.

Contract of :func:`steps` (a generator):
- it yields an ``httpx.Request`` and is sent back the ``httpx.Response`` (body read) or the
  ``httpx.TransportError`` met on the way; or it yields a ``float``: wait that many seconds;
- it returns the upload's URL once the server holds all ``size`` bytes;
- creation: ``POST endpoint`` with ``Tus-Resumable: 1.0.0``, ``Upload-Length`` and
  ``Upload-Metadata`` (``key base64(value)`` pairs, comma-separated) must answer 201 with a
  ``Location``. A zero-byte upload is complete once created;
- with ``url`` (an earlier upload of the same bytes) it first asks ``HEAD url`` for the offset
  and goes on from there; an upload the server no longer has (403/404/410) is created anew;
- ``PATCH url`` sends at most ``chunk_size`` bytes from the offset (``Upload-Offset``,
  ``Content-Type: application/offset+octet-stream``); the 204's ``Upload-Offset`` is the next;
- a dropped connection, a timeout or a 5xx before the last chunk: wait (``backoff`` doubling),
  ``HEAD`` for the offset the server really has, go on from it. More than ``retries`` failures
  in a row raise the last one (``httpx.TransportError`` or :class:`ApiError`);
- any other 4xx, and any refusal of the last chunk (the server could not place the finished
  file, e.g. 409: a directory is there), raise :class:`ApiError` at once. After a connection
  dropped during the last chunk, a ``HEAD`` showing every byte counts as done (Berth's
  manager answers so for a day after it placed the file);
- ``created(url)`` once the upload exists (keep it to resume later: pass it back as ``url``);
  ``progress(offset, size)`` after creation or resumption and after every chunk taken.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Generator

import httpx

from berth.client.errors import ApiError, raise_for

VERSION = {"Tus-Resumable": "1.0.0"}
#: Bytes per PATCH: each request costs the server a fixed amount, so large chunks go faster
#: (8 MiB took about twice as long as 64 MiB in benchmarks/bench_storage.py); the client holds
#: one chunk in memory and a dropped connection resends at most one.
CHUNK_SIZE = 32 * 2**20
BACKOFF = 0.5  # seconds before the first retry; doubling
Step = httpx.Request | float
Answer = httpx.Response | httpx.TransportError | None
Steps = Generator[Step, Answer, str]
Build = Callable[..., httpx.Request]
Progress = Callable[[int, int | None], None]


def metadata_header(values: dict[str, str]) -> str:
    """``Upload-Metadata``: each key with its value in base64, comma-separated."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def steps(build: Build, endpoint: str, size: int, metadata: dict[str, str],
          read: Callable[[int, int], bytes], *, url: str | None = None,
          chunk_size: int = CHUNK_SIZE, retries: int = 5, backoff: float = BACKOFF,
          progress: Progress | None = None, created: Callable[[str], None] | None = None
          ) -> Steps:
    progress = progress or (lambda done, total: None)
    offset: int | None = None  # None: ask the server (HEAD)
    resuming = url is not None
    failures = 0
    while True:
        if url is None:
            answer = yield build("POST", endpoint, headers={
                **VERSION, "Upload-Length": str(size),
                "Upload-Metadata": metadata_header(metadata)})
            if isinstance(answer, httpx.Response) and answer.status_code == 201:
                url, offset, failures = answer.headers["Location"], 0, 0
                if created is not None:
                    created(url)
                progress(0, size)
                continue
        elif offset is None:
            answer = yield build("HEAD", url, headers=VERSION)
            if isinstance(answer, httpx.Response) and answer.status_code == 200:
                offset, resuming = int(answer.headers["Upload-Offset"]), False
                progress(offset, size)
                continue
            if resuming and isinstance(answer, httpx.Response) and \
                    answer.status_code in (403, 404, 410):
                url, resuming = None, False  # gone: start over
                continue
        elif offset >= size:
            return url
        else:
            data = read(offset, min(chunk_size, size - offset))
            last = offset + len(data) >= size
            answer = yield build("PATCH", url, content=data, headers={
                **VERSION, "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream"})
            if isinstance(answer, httpx.Response) and answer.status_code == 204:
                offset = int(answer.headers.get("Upload-Offset", offset + len(data)))
                failures = 0
                progress(offset, size)
                continue
            if isinstance(answer, httpx.Response) and last:
                raise_for(answer)
            offset = None
        failures = yield from _failed(answer, failures, retries, backoff)


def _failed(answer: Answer, failures: int, retries: int, backoff: float
            ) -> Generator[Step, Answer, int]:
    """Count a failed step: raise a refusal or the last of too many failures, else wait."""
    if isinstance(answer, httpx.Response) and (answer.status_code < 500 or failures >= retries):
        raise_for(answer)
        raise ApiError(answer.status_code, f"unexpected answer to {answer.request.method}")
    if isinstance(answer, httpx.TransportError) and failures >= retries:
        raise answer
    yield float(backoff * 2**failures)
    return failures + 1


def run(http: httpx.Client, protocol: Steps) -> str:
    """Carry out ``protocol`` with a blocking client; the upload's URL."""
    answer: Answer = None
    while True:
        try:
            step = protocol.send(answer)
        except StopIteration as done:
            return str(done.value)
        if isinstance(step, float):
            time.sleep(step)
            answer = None
            continue
        try:
            answer = http.send(step)
        except httpx.TransportError as e:
            answer = e


async def run_async(http: httpx.AsyncClient, protocol: Steps) -> str:
    """Carry out ``protocol`` with an asyncio client; its result."""
    answer: Answer = None
    while True:
        try:
            step = protocol.send(answer)
        except StopIteration as done:
            return str(done.value)
        if isinstance(step, float):
            await asyncio.sleep(step)
            answer = None
            continue
        try:
            answer = await http.send(step)
        except httpx.TransportError as e:
            answer = e
