"""A directory of a folder as a zip, streamed in bounded memory.

``zip_chunks(folder, path)`` checks ``path`` at once (raising the folder's
:class:`~berth.storage.fs.FsError` before any byte is sent) and returns an iterator of zip
bytes. Members come from :meth:`FolderFS.walk_items`: directories (empty ones too) as
``name/`` entries, regular files read 1 MiB at a time through no-follow fds; links, FIFOs,
devices and sockets are left out, never followed. Names are relative to ``path``.

Memory stays bounded: every member is deflated at level 1 as it is read (stream-zip's
``ZIP_AUTO`` with a data descriptor; its ``NO_COMPRESSION_*`` methods would either buffer a
whole file or need its CRC before the first byte). A file is read up to the size it had when
opened, so one that grows meanwhile cannot break the zip32/zip64 choice; one that shrinks ends
early (the descriptor records what was sent). A file that vanished or became a link between
the listing and its turn is left out. Times outside what a zip can hold (1980..2038 with the
extended timestamp) are clamped; names that are not UTF-8 get U+FFFD in place of bad bytes.
The central directory (about 100 bytes a member) is the only thing that grows with the tree.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from stream_zip import ZIP_AUTO, MemberFile, stream_zip

from berth.storage.fs import FolderFS, FsError, PathRefused, WalkItem

CHUNK = 1 << 20
LEVEL = 1
_EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)
_LATEST = datetime(2038, 1, 19, tzinfo=UTC)
_NAME_MAX = 0xFFFF


def zip_chunks(folder: FolderFS, path: str) -> Iterator[bytes]:
    """Zip bytes of directory ``path`` (""= the folder root); raises FsError now when ``path``
    is missing, refused or not a directory."""
    entry = folder.stat(path)
    if entry.type != "dir":
        what = "a symbolic link" if entry.type == "symlink" else "not a directory"
        raise PathRefused(f"path: {entry.path!r} is {what}")
    return _stream(folder, path)


def _stream(folder: FolderFS, path: str) -> Iterator[bytes]:
    members = _members(folder.walk_items(path))
    try:
        yield from stream_zip(members, chunk_size=CHUNK)
    finally:
        members.close()


def _members(items: Iterator[WalkItem]) -> Generator[MemberFile, None, None]:
    # a generator, so closing it (client gone) closes the walk and the file being read
    try:
        for rel, st, opener in items:
            name = os.fsencode(rel).decode("utf-8", "replace")
            if len(name.encode("utf-8")) > _NAME_MAX:
                continue
            mode = stat.S_IMODE(st.st_mode) & 0o777
            if opener is None:
                yield name, _when(st.st_mtime), stat.S_IFDIR | mode, ZIP_AUTO(0, level=LEVEL), ()
                continue
            try:
                f = opener()
            except FsError:
                continue
            try:
                now = os.fstat(f.fileno())
                yield (name, _when(now.st_mtime), stat.S_IFREG | mode,
                       ZIP_AUTO(now.st_size, level=LEVEL), _chunks(f, now.st_size))
            finally:
                f.close()
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _chunks(f: BinaryIO, size: int) -> Iterable[bytes]:
    left = size
    while left > 0:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _when(seconds: float) -> datetime:
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return _LATEST if seconds > 0 else _EARLIEST
    return min(max(when, _EARLIEST), _LATEST)
