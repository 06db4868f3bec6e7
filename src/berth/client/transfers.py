"""The pieces folder transfers share in both clients: what an upload sends, where a download
goes. No I/O but the local files named."""

from __future__ import annotations

import contextlib
import mimetypes
import os
from collections.abc import Callable, Iterator, MutableMapping
from email.message import Message
from pathlib import Path
from typing import IO, Any

import httpx

Dest = str | os.PathLike[str] | IO[bytes]
Store = MutableMapping[str, str]


def upload_request(folder: str, local_path: str | os.PathLike[str], dest_path: str
                   ) -> tuple[Path, int, dict[str, str], str]:
    """What an upload sends: the file, its size, the tus metadata and a fingerprint (the
    key of a resumable upload of these very bytes to this place). A ``dest_path`` that is ""
    or ends with "/" is a directory: the file keeps its own name there."""
    path = Path(local_path)
    st = path.stat()  # FileNotFoundError for a missing file
    if not path.is_file():
        raise IsADirectoryError(f"{path} is not a regular file")
    if dest_path == "" or dest_path.endswith("/"):
        dest_path += path.name
    filetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    metadata = {"folder": folder, "path": dest_path, "filename": dest_path.split("/")[-1],
                "filetype": filetype}
    fingerprint = f"{folder} {dest_path} {path.resolve()} {st.st_size} {st.st_mtime_ns}"
    return path, st.st_size, metadata, fingerprint


def reader(stream: IO[bytes]) -> Callable[[int, int], bytes]:
    def read(offset: int, n: int) -> bytes:
        stream.seek(offset)
        return stream.read(n)
    return read


def attachment_name(response: httpx.Response) -> str:
    """The file name the server gave (Content-Disposition), as a bare name."""
    message = Message()
    message["content-disposition"] = response.headers.get("content-disposition", "")
    name = Path(message.get_filename() or "").name
    return name if name not in ("", ".", "..") else "download"


def total_of(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    return int(length) if length and "content-encoding" not in response.headers else None


@contextlib.contextmanager
def open_dest(dest: Dest, name: str) -> Iterator[tuple[IO[bytes], Path | None]]:
    """Where a download goes: a binary stream as is; a path is written under a temporary
    name and renamed once complete (removed on failure); an existing directory gets the
    file under ``name``."""
    if not isinstance(dest, (str, os.PathLike)):
        yield dest, None
        return
    path = Path(dest)
    if path.is_dir():
        path = path / name
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("wb") as out:
            yield out, path
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def done(path: Path | None, name: str, count: int) -> dict[str, Any]:
    """What ``download()`` answers."""
    return {"name": name, "bytes": count, "path": str(path) if path else None}


def remember(store: Store | None, key: str) -> Callable[[str], None] | None:
    """A tus ``created`` hook keeping the new upload's URL in ``store`` under ``key``."""
    if store is None:
        return None

    def keep(url: str) -> None:
        store[key] = url
    return keep
