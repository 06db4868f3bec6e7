"""Private fd-level helpers of :mod:`berth.storage.fs`: no-follow opens, a tree walker with a
bounded number of open fds, a symlink-safe recursive delete, a rename that never replaces, a
bounded-memory copy into a folder, and reading and ordering a directory's entries.

Everything here works relative to directory fds the caller already trusts and never joins
strings into host paths, so a symbolic link, FIFO or device planted by a container is never
followed or opened. Errors are plain :class:`OSError` (plus :class:`NotRegular`); ``fs.py``
turns them into user-facing errors.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import heapq
import os
import secrets
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

#: Flags for every directory below a folder's root: a symlink, FIFO or file fails (ENOTDIR).
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Open fds a walk keeps along its branch; deeper ancestors are closed and opened again
#: (name by name, no-follow, checked to be the same directory) when the walk climbs back.
FD_WINDOW = 32
#: Walks do not enter directories deeper than this below their top, nor ones whose relative
#: name is longer than MAX_REL_BYTES (no zip tool takes longer names).
MAX_DEPTH = 4096
MAX_REL_BYTES = 0xFFFF
CHUNK = 1 << 20


class NotRegular(Exception):
    """The name is not a regular file (``st`` says what it is); nothing was opened for I/O."""

    def __init__(self, st: os.stat_result) -> None:
        super().__init__("not a regular file")
        self.st = st


def open_dir(name: str, dir_fd: int) -> int:
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def open_regular(name: str, dir_fd: int) -> int:
    """An fd open for reading on the regular file ``name`` in ``dir_fd``.

    The name is first opened with ``O_PATH|O_NOFOLLOW`` (which opens nothing for I/O, so a
    FIFO cannot block and a device's open handler never runs) and checked with fstat; only a
    regular file is reopened for reading through ``/proc/self/fd``, which names that very inode.
    Raises :class:`NotRegular` for a link, directory, FIFO, device or socket.
    """
    pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(pfd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(st)
        try:
            fd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
        except FileNotFoundError:  # no /proc: a direct no-follow, non-blocking open
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                         | os.O_NOCTTY, dir_fd=dir_fd)
    finally:
        os.close(pfd)
    now = os.fstat(fd)
    if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise NotRegular(now)
    return fd


_RENAME_NOREPLACE = 1


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                       ctypes.c_uint]
        fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Rename ``src`` (in ``src_fd``) to ``dst`` (in ``dst_fd``); FileExistsError when ``dst``
    exists. Atomic where the filesystem has RENAME_NOREPLACE, else checked just before."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        if renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst)
    try:
        os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    else:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)


class Node(NamedTuple):
    """One step of a :class:`TreeWalk`: ``enter``/``leave`` a directory (``rel`` "" is the top),
    a ``file`` (regular), an ``other`` (link, FIFO, device, socket) or a ``deep`` directory
    that is not entered (beyond ``max_depth`` or :data:`MAX_REL_BYTES`)."""

    kind: Literal["enter", "leave", "file", "other", "deep"]  # deep: not entered
    rel: str
    name: str
    st: os.stat_result


@dataclass
class _Frame:
    name: str
    rel_bytes: int  # of the "/"-joined names from the top (frames do not keep those strings:
    fd: int | None  # a deep tree of long names would make that quadratic in memory)
    st: os.stat_result
    todo: list[str] = field(default_factory=list)


class TreeWalk:
    """Depth-first walk below ``top_fd`` (borrowed, not closed), names in sorted order.

    Entries are lstat'ed when visited and directories entered with no-follow opens, so a link
    is reported as ``other`` and never followed; an entry that vanishes or changes kind while
    the walk runs is skipped. At most :data:`FD_WINDOW` fds stay open. While the walk is
    suspended at a node, :meth:`dir_fd` is the directory the node is in (for ``enter`` and
    ``leave`` the directory itself) and :meth:`parent_fd` that directory's parent.
    """

    def __init__(self, top_fd: int, max_depth: int = MAX_DEPTH) -> None:
        self._top = top_fd
        self._max_depth = max_depth
        self._frames: list[_Frame] = []
        #: Counts the nodes yielded; an opener made for one node checks it is still current.
        self.serial = 0

    def __iter__(self) -> Generator[Node, None, None]:
        top = _Frame("", 0, self._top, os.fstat(self._top))
        top.todo = _names(self._top)
        self._frames = [top]
        try:
            yield from self._steps(Node("enter", "", "", top.st))
        finally:
            self.close()

    def _steps(self, first: Node) -> Iterator[Node]:
        self.serial += 1
        yield first
        while self._frames:
            frame = self._frames[-1]
            if not frame.todo:
                self.serial += 1
                yield Node("leave", self._rel(None), frame.name, frame.st)
                self._pop()
                continue
            node = self._next(frame)
            if node is not None:
                self.serial += 1
                yield node

    def _next(self, frame: _Frame) -> Node | None:
        name = frame.todo.pop()
        try:
            fd = self._fd(len(self._frames) - 1)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.ESTALE:  # this directory was replaced: skip what is left in it
                frame.todo.clear()
            elif e.errno != errno.ENOENT:
                raise
            return None
        rel = self._rel(name)
        if stat.S_ISREG(st.st_mode):
            return Node("file", rel, name, st)
        if not stat.S_ISDIR(st.st_mode):
            return Node("other", rel, name, st)
        rel_bytes = frame.rel_bytes + len(os.fsencode(name)) + 1
        if len(self._frames) > self._max_depth or rel_bytes > MAX_REL_BYTES:
            return Node("deep", rel, name, st)
        try:
            cfd = open_dir(name, fd)
        except OSError as e:  # replaced by a link or a file, or gone, since the lstat
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise
        try:
            child = _Frame(name, rel_bytes, cfd, os.fstat(cfd), _names(cfd))
        except BaseException:
            os.close(cfd)
            raise
        self._push(child)
        return Node("enter", rel, name, child.st)

    def _rel(self, name: str | None) -> str:
        names = [f.name for f in self._frames[1:]]
        return "/".join(names if name is None else [*names, name])

    def dir_fd(self) -> int:
        return self._fd(len(self._frames) - 1)

    def parent_fd(self) -> int:
        return self._fd(len(self._frames) - 2)

    def defer(self, name: str) -> None:
        """Visit ``name`` (just put into the top directory) before leaving the top."""
        self._frames[0].todo.append(name)

    def close(self) -> None:
        while len(self._frames) > 1:
            self._pop()
        self._frames.clear()

    def _push(self, frame: _Frame) -> None:
        self._frames.append(frame)
        old = len(self._frames) - 1 - FD_WINDOW
        if old >= 1:
            self._close(self._frames[old])

    def _pop(self) -> None:
        frame = self._frames.pop()
        if self._frames:  # the top frame's fd is borrowed
            self._close(frame)

    @staticmethod
    def _close(frame: _Frame) -> None:
        if frame.fd is not None:
            os.close(frame.fd)
            frame.fd = None

    def _fd(self, i: int) -> int:
        """The fd of frame ``i``, opening closed frames again from the nearest open ancestor;
        ESTALE when a directory on the way is no longer the one the walk entered."""
        frames = self._frames
        if i < 0:
            raise IndexError("the top has no parent here")
        j = i
        while frames[j].fd is None:
            j -= 1
        for k in range(j + 1, i + 1):
            parent_fd = frames[k - 1].fd
            assert parent_fd is not None
            fd = open_dir(frames[k].name, parent_fd)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (frames[k].st.st_dev, frames[k].st.st_ino):
                os.close(fd)
                raise OSError(errno.ESTALE, "directory replaced during the walk", frames[k].name)
            frames[k].fd = fd
            if 1 <= k - 1 <= i - FD_WINDOW:
                self._close(frames[k - 1])
        fd_i = frames[i].fd
        assert fd_i is not None
        return fd_i


def _names(fd: int) -> list[str]:
    """Names in directory ``fd``, sorted descending (the walk pops from the end)."""
    with os.scandir(fd) as it:
        return sorted((e.name for e in it), reverse=True)


def rmtree_at(parent_fd: int, name: str) -> None:
    """Delete directory ``name`` in ``parent_fd`` and everything below it. Links are removed,
    never followed; subtrees deeper than the fd window are first moved up under ``name`` so
    any depth is deleted with bounded fds and work. ENOENT on the way (a concurrent delete)
    is ignored."""
    top = open_dir(name, parent_fd)
    try:
        walk = TreeWalk(top, max_depth=FD_WINDOW - 1)
        for node in walk:
            try:
                if node.kind in ("file", "other"):
                    os.unlink(node.name, dir_fd=walk.dir_fd())
                elif node.kind == "leave" and node.rel:
                    os.rmdir(node.name, dir_fd=walk.parent_fd())
                elif node.kind == "deep":
                    moved = f".berth-rm-{secrets.token_hex(8)}"
                    rename_noreplace(walk.dir_fd(), node.name, top, moved)
                    walk.defer(moved)
            except FileNotFoundError:
                pass
    finally:
        os.close(top)
    os.rmdir(name, dir_fd=parent_fd)



def remove(parent: int, name: str, recursive: bool) -> None:
    """Unlink ``name`` (a file, link, FIFO...) or remove the directory ``name``; a non-empty
    directory raises ENOTEMPTY unless ``recursive``."""
    try:
        os.unlink(name, dir_fd=parent)
        return
    except IsADirectoryError:
        pass
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not recursive:
            raise
        rmtree_at(parent, name)


def copy_in(staged: Path, parent: int, name: str, own: Callable[[int], None]) -> None:
    """Copy the trusted file ``staged`` to ``name`` in ``parent`` through a temporary file
    (``own``-ed, then renamed over ``name``: a file or link there is replaced atomically),
    :data:`CHUNK` bytes at a time, then delete ``staged``. For staging areas on another
    filesystem, where a rename cannot do it."""
    tmp = f".berth-upload-{secrets.token_hex(8)}"
    src = os.open(staged, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o644, dir_fd=parent)
        try:
            own(dst)
            while chunk := os.read(src, CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
            os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise
        finally:
            os.close(dst)
    finally:
        os.close(src)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staged)


EntryType = Literal["file", "dir", "symlink", "other"]
def kind(mode: int) -> EntryType:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "symlink" if stat.S_ISLNK(mode) else "other"


#: (name, kind, metric): the metric is the size or the modification time in ns when the
#: listing sorts by it, else 0 — an int per entry, not a whole stat result (a folder may hold
#: millions of entries).
Row = tuple[str, EntryType, int]


def read_rows(fd: int, metric: str | None) -> list[Row]:
    """(name, kind, metric) of each entry of directory ``fd``: kinds from d_type (no
    syscall), an lstat only when sorting by ``metric`` ("size" or "modified") needs it (the
    page is stat'ed afterwards)."""
    rows: list[Row] = []
    with os.scandir(fd) as it:
        for e in it:
            try:
                if metric is not None:
                    st = e.stat(follow_symlinks=False)
                    rows.append((e.name, kind(st.st_mode),
                                 st.st_size if metric == "size" else st.st_mtime_ns))
                    continue
                k: EntryType = ("symlink" if e.is_symlink()
                                else "dir" if e.is_dir(follow_symlinks=False)
                                else "file" if e.is_file(follow_symlinks=False) else "other")
            except FileNotFoundError:
                continue
            rows.append((e.name, k, 0))
    return rows


def page(rows: list[Row], sort: str, desc: bool, offset: int, limit: int) -> list[Row]:
    """Rows ``offset`` .. ``offset + limit`` in the order of ``sort`` (name, type, size,
    modified; ties by name, case-insensitive first); directories first for name and type in
    either order. Picks the page with a bounded heap (O(n log k)), never sorting it all."""
    want = offset + limit
    pick = heapq.nlargest if desc else heapq.nsmallest

    def by_name(r: Row) -> tuple[str, str]:
        return r[0].casefold(), r[0]

    if sort in ("size", "modified"):
        return pick(want, rows, key=lambda r: (r[2], *by_name(r)))[offset:]

    def key(r: Row) -> tuple[str, str, str]:
        return (r[1] if sort == "type" else ""), *by_name(r)
    top = pick(want, (r for r in rows if r[1] == "dir"), key=key)
    if len(top) < want:
        top += pick(want - len(top), (r for r in rows if r[1] != "dir"), key=key)
    return top[offset:]
