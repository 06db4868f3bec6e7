"""Confined file operations of a storage folder (berth.storage.fs) on a real filesystem.

Every operation is tried with symbolic links planted in the folder the way a container could:
to a secret file outside, to /etc, to a sibling folder, and relative ``../`` links, as the
last component and as a component on the way. The secret must never be read, listed through,
moved, deleted or overwritten.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from berth.storage import _walk
from berth.storage.fs import (
    Conflict,
    Entry,
    FolderFS,
    FsError,
    NotFound,
    PathRefused,
    parse_path,
)

SECRET = b"TOP SECRET - never leaves the host\n"
AS_ROOT = os.geteuid() == 0


class World:
    """tmp/secret (file), tmp/secretdir/inner.txt, tmp/other/theirs.txt (a sibling folder),
    tmp/folder (the folder under test) holding file.txt and sub/deep/file.txt."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.secret = tmp / "secret"
        self.secret.write_bytes(SECRET)
        self.secretdir = tmp / "secretdir"
        self.secretdir.mkdir()
        (self.secretdir / "inner.txt").write_bytes(SECRET)
        self.other = tmp / "other"
        self.other.mkdir()
        (self.other / "theirs.txt").write_bytes(SECRET)
        self.root = tmp / "folder"
        (self.root / "sub" / "deep").mkdir(parents=True)
        (self.root / "file.txt").write_bytes(b"mine")
        (self.root / "sub" / "deep" / "file.txt").write_bytes(b"deep")
        self.fs = FolderFS(self.root)
        self.before = self.outside()

    def outside(self) -> dict[str, tuple[bytes, int]]:
        """Content and inode of everything outside the folder (and /etc/hostname)."""
        seen = {}
        for p in [self.secret, self.secretdir / "inner.txt", self.other / "theirs.txt"]:
            seen[str(p)] = (p.read_bytes(), p.stat().st_ino)
        seen["dirs"] = (str(sorted(os.listdir(self.tmp)) + sorted(os.listdir(self.secretdir))
                            + sorted(os.listdir(self.other))).encode(), 0)
        return seen

    def assert_untouched(self) -> None:
        assert self.outside() == self.before
        assert Path("/etc/passwd").exists()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.assert_untouched()


# (link name inside the folder, target) — dir targets and file targets
DIR_LINKS = [
    ("to_secretdir", "{tmp}/secretdir"),
    ("to_etc", "/etc"),
    ("to_sibling", "{tmp}/other"),
    ("rel_up", "../secretdir"),
    ("sub/rel_up2", "../../secretdir"),
]
FILE_LINKS = [
    ("to_secret", "{tmp}/secret"),
    ("to_shadow", "/etc/passwd"),
    ("to_sibling_file", "{tmp}/other/theirs.txt"),
    ("rel_file", "../secret"),
    ("sub/deep/rel_file2", "../../../secret"),
]
INNER = {"to_secretdir": "inner.txt", "to_etc": "passwd", "to_sibling": "theirs.txt",
         "rel_up": "inner.txt", "sub/rel_up2": "inner.txt"}


def plant(w: World, name: str, target: str) -> str:
    os.symlink(target.format(tmp=w.tmp), w.root / name)
    return name


@pytest.fixture(params=DIR_LINKS, ids=[n for n, _ in DIR_LINKS])
def dir_link(world: World, request: pytest.FixtureRequest) -> str:
    return plant(world, *request.param)


@pytest.fixture(params=FILE_LINKS, ids=[n for n, _ in FILE_LINKS])
def file_link(world: World, request: pytest.FixtureRequest) -> str:
    return plant(world, *request.param)


def staged(w: World, data: bytes = b"uploaded") -> Path:
    p = w.tmp / f"staged-{time.monotonic_ns()}"
    p.write_bytes(data)
    return p


# -- parse_path ------------------------------------------------------------------------------
@pytest.mark.parametrize("path,parts", [
    ("", ()),
    ("a", ("a",)),
    ("a/b/c", ("a", "b", "c")),
    ("a//b/", ("a", "b")),
    ("a\\b", ("a\\b",)),
    ("..a/b..", ("..a", "b..")),
    (" spaced ", (" spaced ",)),
    ("é/日本", ("é", "日本")),
    ("x" * 255, ("x" * 255,)),
    ("/".join(["d" * 200] * 20), tuple(["d" * 200] * 20)),
])
def test_parse_path_accepts(path: str, parts: tuple[str, ...]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize("path,words", [
    ("..", "'..' is not allowed"),
    ("a/../b", "'..' is not allowed"),
    ("./a", "'.' is not allowed"),
    ("a/.", "'.' is not allowed"),
    ("/etc/passwd", "is absolute"),
    ("/", "is absolute"),
    ("a\x00b", "NUL"),
    ("x" * 256, "longer than 255 bytes"),
    ("é" * 128, "longer than 255 bytes"),
    ("a/" * 2049, "longer than 4096 bytes"),
    ("\ud800", "not valid UTF-8"),
])
def test_parse_path_refuses(path: str, words: str) -> None:
    with pytest.raises(PathRefused) as e:
        parse_path(path, "dst")
    assert e.value.status == 400 and e.value.field == "dst"
    assert e.value.message.startswith("dst: ") and words in e.value.message


def test_errors_carry_status_field_and_path(world: World) -> None:
    with pytest.raises(NotFound) as e:
        world.fs.stat("sub/missing")
    assert (e.value.status, e.value.field) == (404, "path")
    assert "'sub/missing'" in e.value.message and str(e.value) == e.value.message
    with pytest.raises(Conflict) as c:
        world.fs.mkdir("sub")
    assert c.value.status == 409 and "'sub' already exists" in c.value.message


# -- list -------------------------------------------------------------------------------------
def test_list_root_and_subdir(world: World) -> None:
    total, entries = world.fs.list("")
    assert total == 2
    assert [(e.name, e.path, e.type) for e in entries] == [("sub", "sub", "dir"),
                                                           ("file.txt", "file.txt", "file")]
    f = entries[1]
    assert f.size == 4 and f.mode == stat.S_IMODE(os.lstat(world.root / "file.txt").st_mode)
    assert f.modified.utcoffset() == timedelta(0)
    assert world.fs.list("sub/deep")[1][0].path == "sub/deep/file.txt"


def test_list_shows_links_as_links_never_following(world: World, dir_link: str) -> None:
    parent, _, name = dir_link.rpartition("/")
    _, entries = world.fs.list(parent)
    link = next(e for e in entries if e.name == name)
    assert link.type == "symlink"
    assert link.size == len(os.readlink(world.root / dir_link))
    for path in (dir_link, f"{dir_link}/{INNER[dir_link]}", f"{dir_link}/x/y"):
        with pytest.raises(PathRefused, match="is a symbolic link"):
            world.fs.list(path)


def test_list_refuses_a_file_and_a_missing_dir(world: World) -> None:
    with pytest.raises(PathRefused, match="'file.txt' is not a directory"):
        world.fs.list("file.txt")
    with pytest.raises(PathRefused, match="not a directory"):
        world.fs.list("file.txt/x")
    with pytest.raises(NotFound):
        world.fs.list("nope")


def test_list_sorting_dirs_first_and_paging(tmp_path: Path) -> None:
    root = tmp_path / "f"
    root.mkdir()
    for i, (name, size) in enumerate([("b.txt", 30), ("A.txt", 10), ("c.txt", 20)]):
        (root / name).write_bytes(b"x" * size)
        os.utime(root / name, (1_700_000_000 + i, 1_700_000_000 + i))
    (root / "zdir").mkdir()
    (root / "adir").mkdir()
    os.symlink("/etc", root / "link")
    fs = FolderFS(root)

    def names(**kw: object) -> list[str]:
        return [e.name for e in fs.list("", **kw)[1]]  # type: ignore[arg-type]

    assert names() == ["adir", "zdir", "A.txt", "b.txt", "c.txt", "link"]
    assert names(order="desc") == ["zdir", "adir", "link", "c.txt", "b.txt", "A.txt"]
    assert names(sort="type") == ["adir", "zdir", "A.txt", "b.txt", "c.txt", "link"]
    # no dirs-first here (a directory's size depends on the filesystem); the link is 4 bytes
    def files(**kw: object) -> list[str]:
        return [n for n in names(**kw) if not n.endswith("dir")]

    assert files(sort="size") == ["link", "A.txt", "c.txt", "b.txt"]
    assert files(sort="size", order="desc") == ["b.txt", "c.txt", "A.txt", "link"]
    assert names(sort="modified")[:3] == ["b.txt", "A.txt", "c.txt"]
    total, page = fs.list("", offset=2, limit=2)
    assert total == 6 and [e.name for e in page] == ["A.txt", "b.txt"]
    assert fs.list("", offset=10)[1] == []
    for kw, field in [({"sort": "owner"}, "sort"), ({"order": "up"}, "order"),
                      ({"offset": -1}, "offset"), ({"limit": -1}, "limit")]:
        with pytest.raises(PathRefused) as e:
            fs.list("", **kw)  # type: ignore[arg-type]
        assert e.value.field == field


@pytest.mark.slow
def test_list_100000_entries_fast(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        for i in range(100_000):
            os.close(os.open(f"f{i:06d}", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    try:
        fs = FolderFS(root)
        for sort in ("name", "size"):
            t0 = time.monotonic()
            total, page = fs.list("", sort=sort, offset=99_950, limit=100)
            assert time.monotonic() - t0 < 5
            assert total == 100_000 and len(page) == 50
        assert page[-1].name == "f099999"
    finally:
        shutil.rmtree(root)


def test_entry_times_outside_datetime_range_are_clamped() -> None:
    st = os.stat_result((stat.S_IFREG | 0o600, 1, 1, 1, 0, 0, 5, 0, 10**13, 0))
    e = Entry.of(("a",), st)
    assert e.modified.year == 9999 and e.modified.tzinfo == UTC
    st = os.stat_result((stat.S_IFREG | 0o600, 1, 1, 1, 0, 0, 5, 0, -(10**13), 0))
    assert Entry.of(("a",), st).modified.year == 1


def test_names_that_are_not_utf8(world: World) -> None:
    raw = b"bad-\xff\xfe.txt"
    with open(os.path.join(os.fsencode(world.root), raw), "wb") as f:
        f.write(b"x")
    name = os.fsdecode(raw)
    assert name in [e.name for e in world.fs.list("")[1]]
    assert world.fs.stat(name).size == 1
    with world.fs.open_file(name) as f:
        assert f.read() == b"x"


# -- stat -------------------------------------------------------------------------------------
def test_stat_root_file_dir(world: World) -> None:
    root = world.fs.stat("")
    assert (root.name, root.path, root.type) == ("", "", "dir")
    assert world.fs.stat("sub/deep/file.txt") == Entry.of(
        ("sub", "deep", "file.txt"), os.lstat(world.root / "sub/deep/file.txt"))
    assert world.fs.stat("sub/").type == "dir"


def test_stat_describes_a_link_and_refuses_through_it(world: World, file_link: str,
                                                      dir_link: str) -> None:
    e = world.fs.stat(file_link)
    assert e.type == "symlink" and e.size != len(SECRET)
    with pytest.raises(PathRefused, match="symbolic link"):
        world.fs.stat(f"{dir_link}/{INNER[dir_link]}")
    with pytest.raises(PathRefused, match="not a directory|symbolic link"):
        world.fs.stat(f"{file_link}/x")


# -- open_file --------------------------------------------------------------------------------
def test_open_file_reads_a_regular_file(world: World) -> None:
    with world.fs.open_file("sub/deep/file.txt") as f:
        assert f.read() == b"deep"


def test_open_file_refuses_links(world: World, file_link: str, dir_link: str) -> None:
    with pytest.raises(PathRefused, match="is a symbolic link"):
        world.fs.open_file(file_link)
    with pytest.raises(PathRefused, match="is a symbolic link"):
        world.fs.open_file(f"{dir_link}/{INNER[dir_link]}")


def test_open_file_refuses_dirs_and_root(world: World) -> None:
    with pytest.raises(PathRefused, match="'sub' is a directory"):
        world.fs.open_file("sub")
    with pytest.raises(PathRefused, match="root"):
        world.fs.open_file("")
    with pytest.raises(NotFound):
        world.fs.open_file("sub/none")


def _within(seconds: float, fn: object) -> object:
    """Run fn in a thread; fail (instead of hanging) if it blocks."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())  # type: ignore[operator]
        except BaseException as e:  # noqa: BLE001
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked"
    return out[0]


def test_open_file_on_a_fifo_refuses_without_blocking(world: World) -> None:
    os.mkfifo(world.root / "pipe")
    result = _within(5, lambda: world.fs.open_file("pipe"))
    assert isinstance(result, PathRefused) and "not a regular file" in str(result)
    assert world.fs.stat("pipe").type == "other"
    os.symlink("pipe", world.root / "to_pipe")
    assert isinstance(_within(5, lambda: world.fs.open_file("to_pipe")), PathRefused)


def test_open_file_refuses_a_device_node(world: World) -> None:
    try:
        os.mknod(world.root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod not permitted here")
    with pytest.raises(PathRefused, match="not a regular file"):
        world.fs.open_file("null")


# -- mkdir ------------------------------------------------------------------------------------
def test_mkdir_mode_owner_and_conflicts(world: World) -> None:
    old = os.umask(0o077)
    try:
        e = world.fs.mkdir("new")
    finally:
        os.umask(old)
    st = os.lstat(world.root / "new")
    assert e.type == "dir" and e.path == "new" and stat.S_IMODE(st.st_mode) == 0o755
    if AS_ROOT:
        assert (st.st_uid, st.st_gid) == (1000, 1000)
    with pytest.raises(Conflict):
        world.fs.mkdir("new")
    assert world.fs.mkdir("new", parents=True).path == "new"
    with pytest.raises(Conflict, match="not a directory"):
        world.fs.mkdir("file.txt", parents=True)
    with pytest.raises(NotFound, match="'a'"):
        world.fs.mkdir("a/b/c")
    e = world.fs.mkdir("a/b/c", parents=True)
    assert e.path == "a/b/c" and (world.root / "a/b/c").is_dir()
    if AS_ROOT:
        assert os.lstat(world.root / "a").st_uid == 1000
    with pytest.raises(PathRefused, match="not a directory"):
        world.fs.mkdir("file.txt/x", parents=True)
    with pytest.raises(Conflict):
        world.fs.mkdir("")
    assert world.fs.mkdir("", parents=True).type == "dir"


def test_mkdir_never_creates_through_a_link(world: World, dir_link: str) -> None:
    for parents in (False, True):
        with pytest.raises(PathRefused, match="symbolic link"):
            world.fs.mkdir(f"{dir_link}/planted", parents=parents)
        with pytest.raises(PathRefused, match="symbolic link"):
            world.fs.mkdir(f"{dir_link}/a/b", parents=parents)
        with pytest.raises(Conflict):
            world.fs.mkdir(dir_link, parents=parents)
    assert not Path("/etc/planted").exists()


# -- move -------------------------------------------------------------------------------------
def test_move_renames_and_refuses_replacing(world: World) -> None:
    e = world.fs.move("file.txt", "sub/renamed.txt")
    assert e.path == "sub/renamed.txt" and e.type == "file"
    assert (world.root / "sub/renamed.txt").read_bytes() == b"mine"
    assert world.fs.move("sub/deep", "deep2").type == "dir"
    (world.root / "x").write_bytes(b"x")
    with pytest.raises(Conflict) as c:
        world.fs.move("x", "sub/renamed.txt")
    assert c.value.field == "dst"
    assert (world.root / "sub/renamed.txt").read_bytes() == b"mine"
    with pytest.raises(Conflict):
        world.fs.move("deep2", "sub")
    with pytest.raises(Conflict):
        world.fs.move("x", "x")
    with pytest.raises(NotFound) as nf:
        world.fs.move("none", "y")
    assert nf.value.field == "src"
    with pytest.raises(NotFound) as nf:
        world.fs.move("x", "no/such/dir")
    assert nf.value.field == "dst"


def test_move_without_renameat2(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filesystems or C libraries without RENAME_NOREPLACE: checked just before renaming."""
    monkeypatch.setattr(_walk, "_renameat2", lambda: None)
    with pytest.raises(Conflict):
        world.fs.move("file.txt", "sub")
    top, deep = os.open(world.root, os.O_RDONLY), os.open(world.root / "sub/deep", os.O_RDONLY)
    try:  # the kernel refuses a directory into itself (move() refuses before asking)
        with pytest.raises(OSError) as e:
            _walk.rename_noreplace(top, "sub", deep, "x")
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(top)
        os.close(deep)
    assert world.fs.move("file.txt", "sub/moved.txt").path == "sub/moved.txt"


def test_move_refuses_root_and_into_itself(world: World) -> None:
    with pytest.raises(PathRefused) as e:
        world.fs.move("", "x")
    assert e.value.field == "src"
    with pytest.raises(PathRefused, match="into itself"):
        world.fs.move("sub", "sub/deep/sub")
    with pytest.raises(PathRefused, match="not a directory"):
        world.fs.move("sub", "file.txt/sub")
    assert (world.root / "sub/deep/file.txt").exists()


def test_move_moves_a_link_as_a_link(world: World, file_link: str) -> None:
    target = os.readlink(world.root / file_link)
    e = world.fs.move(file_link, "moved")
    assert e.type == "symlink" and os.readlink(world.root / "moved") == target
    assert not os.path.lexists(world.root / file_link)


def test_move_never_goes_through_a_link(world: World, dir_link: str, file_link: str) -> None:
    inner = INNER[dir_link]
    with pytest.raises(PathRefused, match="symbolic link"):
        world.fs.move(f"{dir_link}/{inner}", "stolen")
    with pytest.raises(PathRefused, match="symbolic link"):
        world.fs.move("file.txt", f"{dir_link}/planted")
    with pytest.raises(Conflict):
        world.fs.move("file.txt", file_link)
    assert (world.root / "file.txt").read_bytes() == b"mine"
    assert not os.path.lexists(world.root / "stolen")


# -- remove -----------------------------------------------------------------------------------
def test_remove_file_dir_and_recursive(world: World) -> None:
    world.fs.remove("file.txt")
    assert not (world.root / "file.txt").exists()
    with pytest.raises(Conflict, match="not empty"):
        world.fs.remove("sub")
    world.fs.mkdir("empty")
    world.fs.remove("empty")
    world.fs.remove("sub", recursive=True)
    assert os.listdir(world.root) == []
    with pytest.raises(NotFound):
        world.fs.remove("sub")
    with pytest.raises(PathRefused, match="root"):
        world.fs.remove("", recursive=True)


def test_remove_unlinks_a_link_never_its_target(world: World, dir_link: str,
                                                file_link: str) -> None:
    world.fs.remove(file_link)
    world.fs.remove(dir_link, recursive=True)
    assert not os.path.lexists(world.root / file_link)
    assert not os.path.lexists(world.root / dir_link)


def test_remove_never_goes_through_a_link(world: World, dir_link: str) -> None:
    inner = INNER[dir_link]
    for recursive in (False, True):
        with pytest.raises(PathRefused, match="symbolic link"):
            world.fs.remove(f"{dir_link}/{inner}", recursive=recursive)


def test_recursive_remove_of_a_tree_full_of_links(world: World) -> None:
    for name, target in DIR_LINKS + FILE_LINKS:
        plant(world, name, target)
    os.mkfifo(world.root / "sub" / "pipe")
    world.fs.remove("sub", recursive=True)
    assert not (world.root / "sub").exists()
    assert world.fs.list("")[0] > 0  # links at the top level stay


def test_recursive_remove_of_a_deep_tree(world: World) -> None:
    fd = os.open(world.root, os.O_RDONLY)
    os.mkdir("deep", dir_fd=fd)
    for level in range(300):  # deeper than the fd window and PATH_MAX in characters
        nxt = os.open("deep" if level == 0 else "d" * 20, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
        os.close(os.open(f"file{level}", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.symlink(str(world.secret), f"link{level}", dir_fd=fd)
        os.mkdir("d" * 20, dir_fd=fd)
    os.close(fd)
    fds = len(os.listdir("/proc/self/fd"))
    world.fs.remove("deep", recursive=True)
    assert sorted(os.listdir(world.root)) == ["file.txt", "sub"]
    assert len(os.listdir("/proc/self/fd")) == fds


def test_recursive_remove_when_a_dir_becomes_a_link_midway(world: World,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    d = world.root / "victim"
    (d / "z_sub").mkdir(parents=True)
    (d / "z_sub" / "f").write_bytes(b"f")
    (d / "a_file").write_bytes(b"a")
    real_unlink = os.unlink
    swapped: list[bool] = []

    def unlink(path: str, *, dir_fd: int | None = None) -> None:
        if not swapped:  # the walk is at a_file; z_sub is next: swap it for a link
            os.rename(d / "z_sub", world.root / "z_sub.moved")
            os.symlink(world.secretdir, d / "z_sub")
            swapped.append(True)
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", unlink)
    world.fs.remove("victim", recursive=True)
    assert swapped and not d.exists()
    assert (world.root / "z_sub.moved" / "f").exists()


# -- place ------------------------------------------------------------------------------------
def test_place_creates_parents_and_replaces_a_file(world: World) -> None:
    src = staged(world, b"one")
    e = world.fs.place(src, "up/loads/a.bin")
    assert e.path == "up/loads/a.bin" and e.size == 3 and not src.exists()
    st = os.lstat(world.root / "up/loads/a.bin")
    assert stat.S_IMODE(st.st_mode) == 0o644
    if AS_ROOT:
        assert (st.st_uid, st.st_gid) == (1000, 1000)
        assert os.lstat(world.root / "up").st_uid == 1000
    world.fs.place(staged(world, b"two"), "up/loads/a.bin")
    assert (world.root / "up/loads/a.bin").read_bytes() == b"two"


def test_place_refuses_a_directory_and_the_root(world: World) -> None:
    src = staged(world)
    with pytest.raises(Conflict, match="'sub' is a directory"):
        world.fs.place(src, "sub")
    with pytest.raises(PathRefused):
        world.fs.place(src, "")
    with pytest.raises(PathRefused, match="not a directory"):
        world.fs.place(src, "file.txt/x")
    assert src.exists()
    src.unlink()


def test_place_replaces_a_link_itself(world: World, file_link: str) -> None:
    world.fs.place(staged(world, b"new"), file_link)
    p = world.root / file_link
    assert not p.is_symlink() and p.read_bytes() == b"new"


def test_place_never_goes_through_a_link(world: World, dir_link: str) -> None:
    src = staged(world)
    inner = INNER[dir_link]
    for path in (f"{dir_link}/{inner}", f"{dir_link}/planted", f"{dir_link}/a/b"):
        with pytest.raises(PathRefused, match="symbolic link"):
            world.fs.place(src, path)
    src.unlink()


def test_place_across_filesystems_copies(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    src = staged(world, os.urandom(3 << 20))
    data = src.read_bytes()
    (world.root / "target").write_bytes(b"old")
    real_rename = os.rename

    def rename(a: object, b: object, **kw: object) -> None:
        if a == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(a, b, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    e = world.fs.place(src, "target")
    assert e.size == len(data) and (world.root / "target").read_bytes() == data
    assert not src.exists()
    assert sorted(os.listdir(world.root)) == ["file.txt", "sub", "target"]
    if AS_ROOT:
        assert os.lstat(world.root / "target").st_uid == 1000


# -- walk and usage ---------------------------------------------------------------------------
def test_walk_yields_dirs_and_files_only(world: World) -> None:
    for name, target in DIR_LINKS + FILE_LINKS:
        plant(world, name, target)
    os.mkfifo(world.root / "pipe")
    (world.root / "empty").mkdir()
    got = [rel for rel, _ in world.fs.walk("")]
    assert got == ["empty/", "file.txt", "sub/", "sub/deep/", "sub/deep/file.txt"]
    assert [rel for rel, _ in world.fs.walk("sub")] == ["deep/", "deep/file.txt"]
    with pytest.raises(PathRefused):
        list(world.fs.walk("to_etc"))
    with pytest.raises(PathRefused):
        list(world.fs.walk("file.txt"))


def test_walk_items_open_files_and_open_at(world: World) -> None:
    contents = {}
    for item in world.fs.walk_items("sub"):
        if item.open is not None:
            with item.open() as f:
                contents[item.rel] = f.read()
    assert contents == {"deep/file.txt": b"deep"}
    items = world.fs.walk_items("")
    first_file = next(i for i in items if i.open is not None)
    next(items)
    assert first_file.open is not None
    with pytest.raises(RuntimeError):
        first_file.open()
    items.close()  # type: ignore[attr-defined]
    with world.fs.open_at("sub/deep/file.txt") as f:
        assert f.read() == b"deep"


@pytest.mark.parametrize("swap", ["link", "fifo", "dir"])
def test_walk_item_opener_refuses_a_file_swapped_after_listing(world: World, swap: str) -> None:
    items = world.fs.walk_items("sub/deep")
    item = next(items)
    assert item.rel == "file.txt" and item.open is not None
    p = world.root / "sub/deep/file.txt"
    p.unlink()
    {"link": lambda: os.symlink(world.secret, p), "fifo": lambda: os.mkfifo(p),
     "dir": lambda: p.mkdir()}[swap]()
    result = _within(5, item.open)
    assert isinstance(result, PathRefused)
    items.close()  # type: ignore[attr-defined]


def test_walk_when_a_dir_becomes_a_link_midway(world: World) -> None:
    (world.root / "z").mkdir()
    (world.root / "z" / "mine.txt").write_bytes(b"m")
    seen = []
    for rel, _ in world.fs.walk(""):
        seen.append(rel)
        if rel == "file.txt":  # z is not visited yet: swap it for a link outside
            os.rename(world.root / "z", world.root / "sub" / "z_moved")
            os.symlink(world.secretdir, world.root / "z")
    assert "z/" not in seen and not any("inner" in s for s in seen)


def _deep(root: Path, levels: int) -> Path:
    path = root
    for i in range(levels):
        path = path / f"d{i}"
        path.mkdir()
        (path / "s.txt").write_bytes(b"s")
    return path


def test_walk_deep_tree_with_bounded_fds(world: World) -> None:
    bottom = _deep(world.root, 100)
    (bottom / "bottom.txt").write_bytes(b"b")
    fds = len(os.listdir("/proc/self/fd"))
    most = 0
    names = []
    for rel, _ in world.fs.walk("d0"):
        names.append(rel)
        most = max(most, len(os.listdir("/proc/self/fd")))
    assert most - fds <= _walk.FD_WINDOW + 4
    assert len(os.listdir("/proc/self/fd")) == fds
    expected: list[str] = []
    for level in range(99, 0, -1):  # each level: its subdir (depth first), then s.txt
        expected.insert(0, "/".join(f"d{i}" for i in range(1, level + 1)) + "/")
    assert [n for n in names if n.endswith("/")] == expected
    assert names[-1] == "s.txt" and len(names) == 99 + 100 + 1


def test_walk_skips_what_is_left_of_a_replaced_closed_ancestor(world: World) -> None:
    _deep(world.root, 60)
    seen = []
    for rel, _ in world.fs.walk(""):
        seen.append(rel)
        if rel.count("/") == 50 and rel.endswith("/"):  # d5's fd is closed by now
            d5 = world.root.joinpath(*[f"d{i}" for i in range(6)])
            os.rename(d5, world.root / "old5")
            d5.mkdir()
            (d5 / "impostor.txt").write_bytes(b"i")
    assert not any("impostor" in s for s in seen)
    d4 = "/".join(f"d{i}" for i in range(5))
    assert f"{d4}/s.txt" in seen and f"{d4}/d5/s.txt" not in seen


def test_walk_stops_at_names_too_long_for_a_zip(world: World) -> None:
    fd = os.open(world.root, os.O_RDONLY)
    for _ in range(300):  # 300 x 256 bytes: past 64 KiB (and PATH_MAX) from the root
        os.mkdir("n" * 255, dir_fd=fd)
        nxt = os.open("n" * 255, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    got = [rel for rel, _ in world.fs.walk("")]
    longest = max(len(r) for r in got)
    assert _walk.MAX_REL_BYTES - 512 < longest <= _walk.MAX_REL_BYTES
    assert world.fs.usage()[2] is False
    world.fs.remove("n" * 255, recursive=True)
    assert sorted(os.listdir(world.root)) == ["file.txt", "sub"]


def test_usage_counts_blocks_and_files_not_link_targets(world: World) -> None:
    world.secret.write_bytes(os.urandom(1 << 20))
    world.before = world.outside()
    for name, target in DIR_LINKS + FILE_LINKS:
        plant(world, name, target)
    (world.root / "big").write_bytes(os.urandom(256 << 10))
    size, files, complete = world.fs.usage()
    assert files == 3 and complete
    assert 256 << 10 <= size < 1 << 20
    assert world.fs.usage(max_entries=2)[2] is False


def test_usage_of_a_missing_root_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        FolderFS(tmp_path / "gone").usage()


# -- a directory swapped for a link between calls ----------------------------------------------
def test_dir_swapped_for_a_link_between_calls(world: World) -> None:
    (world.root / "a").mkdir()
    (world.root / "a" / "f").write_bytes(b"mine")
    assert [e.name for e in world.fs.list("a")[1]] == ["f"]
    os.rename(world.root / "a", world.root / "a.old")
    os.symlink(world.secretdir, world.root / "a")
    calls: list[Callable[[], object]] = [
        lambda: world.fs.list("a"),
        lambda: world.fs.stat("a/inner.txt"),
        lambda: world.fs.open_file("a/inner.txt"),
        lambda: world.fs.mkdir("a/x", parents=True),
        lambda: world.fs.remove("a/inner.txt"),
        lambda: world.fs.move("a/inner.txt", "stolen"),
        lambda: world.fs.move("file.txt", "a/file.txt"),
        lambda: world.fs.place(staged(world), "a/inner.txt"),
        lambda: list(world.fs.walk("a")),
    ]
    for call in calls:
        with pytest.raises(PathRefused, match="symbolic link"):
            call()
    for p in world.tmp.glob("staged-*"):
        p.unlink()


def test_fs_errors_are_fs_errors(world: World) -> None:
    for exc in (PathRefused, NotFound, Conflict):
        assert issubclass(exc, FsError)
    assert datetime.now(UTC) >= world.fs.stat("").modified
