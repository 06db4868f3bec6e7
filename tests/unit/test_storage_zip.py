"""Streamed zips of folder directories (berth.storage.zipstream)."""

from __future__ import annotations

import io
import os
import stat
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.storage.fs import FolderFS, NotFound, PathRefused, WalkItem
from berth.storage.zipstream import zip_chunks

SECRET = b"TOP SECRET\n"


@pytest.fixture
def folder(tmp_path: Path) -> FolderFS:
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "secretdir").mkdir()
    (tmp_path / "secretdir" / "inner.txt").write_bytes(SECRET)
    root = tmp_path / "folder"
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty" / "nested_empty").mkdir(parents=True)
    (root / "top.txt").write_bytes(b"top")
    (root / "a" / "one.bin").write_bytes(bytes(range(256)) * 100)
    (root / "a" / "b" / "two.txt").write_bytes(b"two")
    os.chmod(root / "a" / "b" / "two.txt", 0o600)
    os.symlink(tmp_path / "secret", root / "link_file")
    os.symlink(tmp_path / "secretdir", root / "a" / "link_dir")
    os.symlink("../../secretdir", root / "a" / "rel_link")
    os.symlink("/etc", root / "etc")
    os.mkfifo(root / "a" / "pipe")
    return FolderFS(root)


def unzip(folder: FolderFS, path: str) -> zipfile.ZipFile:
    z = zipfile.ZipFile(io.BytesIO(b"".join(zip_chunks(folder, path))))
    assert z.testzip() is None
    return z


def test_zip_has_files_and_dirs_but_no_links_or_fifos(folder: FolderFS) -> None:
    result: list[zipfile.ZipFile] = []
    t = threading.Thread(target=lambda: result.append(unzip(folder, "")), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "zipping blocked (a FIFO opened?)"
    z = result[0]
    assert z.namelist() == ["a/", "a/b/", "a/b/two.txt", "a/one.bin", "empty/",
                            "empty/nested_empty/", "top.txt"]
    assert z.read("top.txt") == b"top"
    assert z.read("a/one.bin") == bytes(range(256)) * 100
    assert z.read("a/b/two.txt") == b"two"
    assert z.getinfo("empty/nested_empty/").is_dir()
    assert stat.S_IMODE(z.getinfo("a/b/two.txt").external_attr >> 16) == 0o600
    assert stat.S_ISDIR(z.getinfo("a/").external_attr >> 16)
    for info in z.infolist():
        assert SECRET not in z.read(info)


def test_zip_of_a_subdir_names_relative_to_it(folder: FolderFS) -> None:
    assert unzip(folder, "a").namelist() == ["b/", "b/two.txt", "one.bin"]
    assert unzip(folder, "empty").namelist() == ["nested_empty/"]


def test_zip_refuses_at_once(folder: FolderFS) -> None:
    with pytest.raises(PathRefused, match="symbolic link"):
        zip_chunks(folder, "a/link_dir")
    with pytest.raises(PathRefused, match="symbolic link"):
        zip_chunks(folder, "a/link_dir/x")
    with pytest.raises(PathRefused, match="not a directory"):
        zip_chunks(folder, "top.txt")
    with pytest.raises(NotFound):
        zip_chunks(folder, "missing")
    with pytest.raises(PathRefused):
        zip_chunks(folder, "../secretdir")


def test_zip_odd_names_and_times(folder: FolderFS) -> None:
    root = folder.root
    raw = os.path.join(os.fsencode(root), b"bad-\xff.txt")
    with open(raw, "wb") as f:
        f.write(b"bad")
    os.utime(raw, (0, 0))  # 1970: before what a zip can hold
    os.utime(root / "top.txt", (4_000_000_000, 4_000_000_000))  # 2096
    z = unzip(folder, "")
    assert z.read("bad-\ufffd.txt") == b"bad"
    assert z.getinfo("bad-\ufffd.txt").date_time[0] == 1980
    assert z.getinfo("top.txt").date_time[0] == 2038


def test_zip_streams_a_big_file_in_bounded_memory(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    block = os.urandom(1 << 20)
    with open(root / "big.bin", "wb") as f:
        for _ in range(30):
            f.write(block)
    folder = FolderFS(root)
    size = 0
    tracemalloc.start()
    try:
        for chunk in zip_chunks(folder, ""):
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 30 << 20  # random data does not shrink
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_zip_abandoned_midway_closes_its_fds(folder: FolderFS) -> None:
    (folder.root / "a" / "big.bin").write_bytes(os.urandom(3 << 20))
    fds = len(os.listdir("/proc/self/fd"))
    it = zip_chunks(folder, "")
    next(iter(it))
    assert len(os.listdir("/proc/self/fd")) > fds
    it.close()  # type: ignore[attr-defined]
    assert len(os.listdir("/proc/self/fd")) == fds


def test_zip_leaves_out_links_planted_before_the_walk_reaches_them(folder: FolderFS,
                                                                   tmp_path: Path) -> None:
    it = iter(zip_chunks(folder, "a"))  # checked now, walked lazily
    (folder.root / "a" / "b" / "two.txt").unlink()
    os.symlink(tmp_path / "secret", folder.root / "a" / "b" / "two.txt")
    z = zipfile.ZipFile(io.BytesIO(b"".join(it)))
    assert z.namelist() == ["b/", "one.bin"]


def test_zip_leaves_out_a_file_swapped_between_listing_and_reading(
        folder: FolderFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = FolderFS.walk_items

    def walk_items(self: FolderFS, path: str) -> Iterator[WalkItem]:
        for item in real(self, path):
            if item.rel == "b/two.txt":  # listed as a file; a link by the time it is read
                (folder.root / "a" / "b" / "two.txt").unlink()
                os.symlink(tmp_path / "secret", folder.root / "a" / "b" / "two.txt")
            yield item

    monkeypatch.setattr(FolderFS, "walk_items", walk_items)
    z = unzip(folder, "a")
    assert z.namelist() == ["b/", "one.bin"]
    assert all(SECRET not in z.read(i) for i in z.infolist())
