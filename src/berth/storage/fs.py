"""File operations confined to one storage folder, safe against what containers plant in it.

The manager runs as root and reads folders that kernels (untrusted code) write into, so a
folder may hold symbolic links (to ``/etc/shadow``, to another folder), FIFOs, devices, huge
sparse files and deep trees. Every operation resolves paths component by component relative
to open directory fds with ``O_NOFOLLOW`` (never a joined host path), so nothing outside the
folder is ever reached and there is no check-then-use race: a directory swapped for a link
between two calls makes the second call refuse. Only the folder's root directory is trusted.

Contract (all methods synchronous; the API runs them in threads):

- :func:`parse_path` ``(path, field="path") -> tuple[str, ...]``: "" → ``()``; "/"-separated,
  empty components (doubled or trailing "/") ignored; refused (:class:`PathRefused`): a leading
  "/", "." or ".." components, NUL, a component over 255 bytes or a path over 4096 bytes (UTF-8).
  A backslash is an ordinary character.
- :class:`FolderFS` ``(root, uid=1000, gid=1000)``:

  - ``list(path="", sort="name", order="asc", offset=0, limit=100) -> (total, entries)``:
    one page of a directory, lstat only (links are listed as "symlink"); directories first
    when sorting by name or type. Sort keys: :data:`SORT_KEYS`; order "asc"/"desc".
  - ``stat(path) -> Entry`` ("" is the root; a final link is described, not followed).
  - ``open_file(path) -> BinaryIO``: regular files only; the caller closes it.
  - ``mkdir(path, parents=False) -> Entry``: mode 0755, owned by uid/gid when root.
  - ``move(src, dst) -> Entry``: rename inside the folder; dst exists → Conflict (never
    replaced); a link is moved as a link.
  - ``remove(path, recursive=False)``: files and links unlinked (a link's target is untouched);
    a non-empty directory needs ``recursive``; any depth, links never followed.
  - ``place(staged, path) -> Entry``: moves a trusted staging file (outside the folder) to
    ``path``, creating parents; replaces a file or link there atomically, refuses a directory;
    mode 0644, owned by uid/gid when root; copies in bounded memory across filesystems.
  - ``walk(path)`` yields ``(rel, stat)`` for every directory (``rel`` ends with "/") and
    regular file below ``path``, depth-first in name order, ``rel`` relative to ``path``;
    links and other kinds skipped; directories deeper than 4096 levels or with a relative
    name over 64 KiB are not entered.
    ``walk_items(path)`` yields the same with an opener per file (valid until the next item);
    ``open_at(relname)`` opens a file by its folder-relative path like ``open_file`` but
    without the 4096-byte limit (names found on disk may be longer).
  - ``usage(max_entries) -> (bytes, files, complete)``: st_blocks*512 of every entry, count of
    regular files; ``complete`` False when it stopped at ``max_entries`` or at a directory
    too deep to enter (see ``walk``).
    Raises plain OSError when the root itself cannot be opened (a background measurement).

Errors: :class:`FsError` subclasses with ``status`` (HTTP), ``field`` and ``message`` (names
the field and the path): :class:`PathRefused` 400, :class:`NotFound` 404, :class:`Conflict`
409, :class:`NoSpace` 507 (filesystem full or quota). Other OSErrors (EIO) propagate.
Names on disk that are not UTF-8 come back with surrogate escapes (``os.fsdecode``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

from berth.storage import _walk
from berth.storage._walk import DIR_FLAGS, EntryType, NotRegular, open_dir
from berth.storage._walk import kind as _kind

PATH_MAX_BYTES = 4096
NAME_MAX_BYTES = 255
SORT_KEYS = ("name", "size", "modified", "type")


class FsError(Exception):
    status = 500

    def __init__(self, message: str, field: str = "path") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PathRefused(FsError):
    status = 400


class NotFound(FsError):
    status = 404


class Conflict(FsError):
    status = 409


class NoSpace(FsError):
    status = 507


def _show(path: str | tuple[str, ...]) -> str:
    text = "/".join(path) if isinstance(path, tuple) else path
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return repr(text if len(text) <= 200 else text[:200] + "…")


def parse_path(path: str, field: str = "path", max_bytes: int = PATH_MAX_BYTES) -> tuple[str, ...]:
    """The components of a folder-relative path; raises PathRefused naming ``field``."""
    if "\x00" in path:
        raise PathRefused(f"{field}: NUL characters are not allowed", field)
    try:
        size = len(os.fsencode(path))
    except UnicodeError:
        raise PathRefused(f"{field}: not valid UTF-8 text", field) from None
    if size > max_bytes:
        raise PathRefused(f"{field}: longer than {max_bytes} bytes", field)
    if path.startswith("/"):
        raise PathRefused(f"{field}: {_show(path)} is absolute; paths are relative to the "
                          "folder", field)
    parts = tuple(p for p in path.split("/") if p)
    for p in parts:
        if p in (".", ".."):
            raise PathRefused(f"{field}: {p!r} is not allowed; paths stay inside the folder",
                              field)
        if len(os.fsencode(p)) > NAME_MAX_BYTES:
            raise PathRefused(f"{field}: a name is longer than {NAME_MAX_BYTES} bytes", field)
    return parts


def _utc(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # planted timestamps beyond year 1..9999
        return (datetime.max if seconds > 0 else datetime.min).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    type: EntryType
    size: int
    modified: datetime
    mode: int

    @classmethod
    def of(cls, parts: tuple[str, ...], st: os.stat_result) -> Entry:
        return cls(parts[-1] if parts else "", "/".join(parts), _kind(st.st_mode), st.st_size,
                   _utc(st.st_mtime), stat.S_IMODE(st.st_mode))


class WalkItem(NamedTuple):
    rel: str
    st: os.stat_result
    open: Callable[[], BinaryIO] | None  # files only; valid until the walk moves on


_CONFLICTS = {errno.EEXIST: "already exists", errno.ENOTEMPTY: "is a directory and not empty",
              errno.EISDIR: "is a directory", errno.EROFS: "is on a read-only filesystem",
              errno.EBUSY: "is in use", errno.ESTALE: "changed while it was being worked on"}
_REFUSALS = {errno.ELOOP: "is a symbolic link; links are not followed",
             errno.ENOTDIR: "is not a directory", errno.ENAMETOOLONG: "is too long",
             errno.EINVAL: "cannot be moved into itself", errno.EXDEV: "is on another filesystem",
             errno.EPERM: "may not be changed", errno.EACCES: "may not be changed"}


def _error(e: OSError, parts: tuple[str, ...], field: str) -> Exception:
    where = f"{field}: {_show(parts) if parts else 'the folder root'}"
    if e.errno == errno.ENOENT:
        return NotFound(f"{where} does not exist", field)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"{where}: no space left (disk full or quota reached)", field)
    if e.errno in _CONFLICTS:
        return Conflict(f"{where} {_CONFLICTS[e.errno]}", field)
    if e.errno in _REFUSALS:
        return PathRefused(f"{where} {_REFUSALS[e.errno]}", field)
    return e


def _not_regular(st: os.stat_result, parts: tuple[str, ...], field: str) -> PathRefused:
    what = {"dir": "a directory", "symlink": "a symbolic link; links are not followed",
            "other": "not a regular file"}.get(_kind(st.st_mode), "not a regular file")
    return PathRefused(f"{field}: {_show(parts)} is {what}", field)


class FolderFS:
    """One folder's files; ``root`` is trusted (made by Berth), nothing below it is."""

    def __init__(self, root: Path, uid: int = 1000, gid: int = 1000) -> None:
        self.root = Path(root)
        self.uid = uid
        self.gid = gid

    # -- resolution -------------------------------------------------------------------------
    def _open_root(self) -> int:
        try:
            return os.open(self.root, DIR_FLAGS)
        except FileNotFoundError:
            raise NotFound("path: the folder's directory is missing on its host") from None

    def _open_dir(self, parts: tuple[str, ...], field: str = "path", create: bool = False) -> int:
        """An owned fd of directory ``parts`` (``create``: missing ones made, owned uid/gid)."""
        fd = self._open_root()
        try:
            for i, name in enumerate(parts):
                nxt = self._step(fd, name, parts[: i + 1], field, create)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _step(self, fd: int, name: str, shown: tuple[str, ...], field: str, create: bool) -> int:
        try:
            return open_dir(name, fd)
        except OSError as e:
            if not (create and e.errno == errno.ENOENT):
                raise self._explain(fd, name, e, shown, field) from None
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
            made = True
        except FileExistsError:
            made = False
        except OSError as e:
            raise _error(e, shown, field) from None
        try:
            new = open_dir(name, fd)
        except OSError as e:
            raise self._explain(fd, name, e, shown, field) from None
        if made:
            self._own(new, 0o755)
        return new

    @staticmethod
    def _explain(fd: int, name: str, e: OSError, shown: tuple[str, ...], field: str) -> Exception:
        """Why ``name`` could not be opened as a directory (lstat only words the message)."""
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                return _error(e, shown, field)
            if stat.S_ISLNK(st.st_mode):
                return _error(OSError(errno.ELOOP, ""), shown, field)
        return _error(e, shown, field)

    def _own(self, fd: int, mode: int) -> None:
        os.fchmod(fd, mode)
        if os.geteuid() == 0:
            os.fchown(fd, self.uid, self.gid)

    def _lstat(self, parent: int, parts: tuple[str, ...], field: str = "path") -> os.stat_result:
        try:
            return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except OSError as e:
            raise _error(e, parts, field) from None

    # -- reading ----------------------------------------------------------------------------
    def list(self, path: str = "", sort: str = "name", order: str = "asc", offset: int = 0,
             limit: int = 100) -> tuple[int, list[Entry]]:
        parts = parse_path(path)
        if sort not in SORT_KEYS:
            raise PathRefused(f"sort: must be one of {', '.join(SORT_KEYS)}", "sort")
        if order not in ("asc", "desc"):
            raise PathRefused("order: must be asc or desc", "order")
        for name, value in (("offset", offset), ("limit", limit)):
            if value < 0:
                raise PathRefused(f"{name}: must not be negative", name)
        fd = self._open_dir(parts)
        try:
            rows = _walk.read_rows(fd, sort if sort in ("size", "modified") else None)
            entries = []
            for name, _, _ in _walk.page(rows, sort, order == "desc", offset, limit):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entries.append(Entry.of((*parts, name), st))
            return len(rows), entries
        finally:
            os.close(fd)

    def stat(self, path: str) -> Entry:
        parts = parse_path(path)
        fd = self._open_dir(parts[:-1])
        try:
            return Entry.of(parts, self._lstat(fd, parts) if parts else os.fstat(fd))
        finally:
            os.close(fd)

    def open_file(self, path: str) -> BinaryIO:
        return self._open_parts(parse_path(path))

    def open_at(self, relname: str) -> BinaryIO:
        return self._open_parts(parse_path(relname, max_bytes=1 << 30))

    def _open_parts(self, parts: tuple[str, ...]) -> BinaryIO:
        if not parts:
            raise PathRefused("path: the folder root is a directory, not a file")
        parent = self._open_dir(parts[:-1])
        try:
            return os.fdopen(_walk.open_regular(parts[-1], parent), "rb")
        except NotRegular as e:
            raise _not_regular(e.st, parts, "path") from None
        except OSError as e:
            raise _error(e, parts, "path") from None
        finally:
            os.close(parent)

    def walk(self, path: str) -> Iterator[tuple[str, os.stat_result]]:
        for item in self.walk_items(path):
            yield item.rel, item.st

    def walk_items(self, path: str) -> Iterator[WalkItem]:
        parts = parse_path(path)
        top = self._open_dir(parts)
        walk = _walk.TreeWalk(top)
        nodes = iter(walk)
        try:
            for node in nodes:
                if node.kind == "enter" and node.rel:
                    yield WalkItem(node.rel + "/", node.st, None)
                elif node.kind == "file":
                    yield WalkItem(node.rel, node.st, self._opener(walk, (*parts, node.rel)))
        finally:
            nodes.close()
            os.close(top)

    @staticmethod
    def _opener(walk: _walk.TreeWalk, parts: tuple[str, ...]) -> Callable[[], BinaryIO]:
        serial, name = walk.serial, parts[-1].rpartition("/")[2]

        def open_() -> BinaryIO:
            if walk.serial != serial:
                raise RuntimeError("a walk item's opener is valid only until the walk moves on")
            try:
                return os.fdopen(_walk.open_regular(name, walk.dir_fd()), "rb")
            except NotRegular as e:
                raise _not_regular(e.st, parts, "path") from None
            except OSError as e:
                raise _error(e, parts, "path") from None
        return open_

    def usage(self, max_entries: int = 1_000_000) -> tuple[int, int, bool]:
        top = os.open(self.root, DIR_FLAGS)
        size = files = seen = 0
        nodes = iter(_walk.TreeWalk(top))
        try:
            for node in nodes:
                if node.kind == "leave":
                    continue
                if node.kind == "deep" or seen >= max_entries:
                    return size, files, False
                seen += 1
                size += node.st.st_blocks * 512
                files += node.kind == "file"
            return size, files, True
        finally:
            nodes.close()
            os.close(top)

    # -- changing ---------------------------------------------------------------------------
    def mkdir(self, path: str, parents: bool = False) -> Entry:
        parts = parse_path(path)
        if not parts:
            if parents:
                return self.stat("")
            raise Conflict("path: the folder root already exists")
        parent = self._open_dir(parts[:-1], create=parents)
        try:
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
            except FileExistsError:
                if not parents:
                    raise Conflict(f"path: {_show(parts)} already exists") from None
                try:
                    fd = open_dir(parts[-1], parent)
                except OSError:
                    raise Conflict(f"path: {_show(parts)} exists and is not a directory") from None
            except OSError as e:
                raise _error(e, parts, "path") from None
            else:
                fd = self._step(parent, parts[-1], parts, "path", create=False)
                self._own(fd, 0o755)
            try:
                return Entry.of(parts, os.fstat(fd))
            finally:
                os.close(fd)
        finally:
            os.close(parent)

    def move(self, src: str, dst: str) -> Entry:
        sp, dp = parse_path(src, "src"), parse_path(dst, "dst")
        if not sp:
            raise PathRefused("src: the folder root cannot be moved", "src")
        sfd = self._open_dir(sp[:-1], "src")
        try:
            self._lstat(sfd, sp, "src")
            if not dp or dp == sp:
                raise Conflict(f"dst: {_show(dp) if dp else 'the folder root'} already exists",
                               "dst")
            if dp[: len(sp)] == sp:
                raise PathRefused(f"dst: {_show(dp)} is inside {_show(sp)}; a directory cannot "
                                  "be moved into itself", "dst")
            dfd = self._open_dir(dp[:-1], "dst")
            try:
                try:
                    _walk.rename_noreplace(sfd, sp[-1], dfd, dp[-1])
                except OSError as e:
                    raise (_error(e, sp, "src") if e.errno == errno.ENOENT
                           else _error(e, dp, "dst")) from None
                return Entry.of(dp, self._lstat(dfd, dp, "dst"))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def remove(self, path: str, recursive: bool = False) -> None:
        parts = parse_path(path)
        if not parts:
            raise PathRefused("path: the folder root cannot be deleted; delete the folder itself")
        parent = self._open_dir(parts[:-1])
        try:
            _walk.remove(parent, parts[-1], recursive)
        except OSError as e:
            if e.errno == errno.ENOTEMPTY and not recursive:
                raise Conflict(f"path: {_show(parts)} is a directory and not empty; delete it "
                               "recursively") from None
            raise _error(e, parts, "path") from None
        finally:
            os.close(parent)

    def place(self, staged: Path, path: str) -> Entry:
        parts = parse_path(path)
        if not parts:
            raise PathRefused("path: give a file name; the folder root is a directory")
        parent = self._open_dir(parts[:-1], create=True)
        try:
            name = parts[-1]
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                    raise Conflict(f"path: {_show(parts)} is a directory")
            except FileNotFoundError:
                pass
            try:
                os.chmod(staged, 0o644)
                if os.geteuid() == 0:
                    os.chown(staged, self.uid, self.gid)
                try:
                    os.rename(staged, name, dst_dir_fd=parent)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                    _walk.copy_in(staged, parent, name, lambda fd: self._own(fd, 0o644))
            except OSError as e:
                raise _error(e, parts, "path") from None
            return Entry.of(parts, self._lstat(parent, parts))
        finally:
            os.close(parent)

