"""The base image: a debootstrapped Debian root filesystem imported into the engine.

debootstrap takes minutes, so its result is cached as a tar in the builder's cache directory
(``images/.cache/base-<hash>.tar``): re-importing the tar takes seconds. Delete the cache
directory to debootstrap again (e.g. to pick up newer Debian packages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from berth.images.recipes import BaseRecipe

#: Image config applied on import (an imported tar has no config at all).
IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["bash"]',
)
DEBOOTSTRAP = "debootstrap"
_PER_PACKAGE = re.compile(
    r"I: (Retrieving|Validating) \S+ \S+$|I: (Extracting|Unpacking|Configuring) \S+\.\.\.$"
)


class BaseBuildError(RuntimeError):
    """debootstrap or packing the root filesystem failed."""


def cached_tar(cache_dir: Path, base_hash: str) -> Path:
    """Where the packed root filesystem for ``base_hash`` is (or will be) cached."""
    return cache_dir / f"base-{base_hash[:16]}.tar"


def _debootstrap_command() -> str:
    # debootstrap lives in /usr/sbin, which is not on every PATH.
    found = shutil.which(DEBOOTSTRAP) or shutil.which(DEBOOTSTRAP, path="/usr/sbin:/sbin")
    if found is None:
        raise BaseBuildError("debootstrap is not installed (run scripts/ensure-docker.sh)")
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    prefix = str(root.resolve())
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_tree(root: Path) -> None:
    """Delete a (possibly half-built) root filesystem.

    Unmounts anything debootstrap left mounted inside (proc, sys, a bind-mounted /dev) first,
    so that deleting can never reach into the host's /dev or /proc.
    """
    if not root.exists():
        return
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], check=False)
    if _mounts_under(root):
        raise BaseBuildError(f"{root}: could not unmount everything below it; not deleting")
    shutil.rmtree(root)


def _tidy_rootfs(rootfs: Path, overlay: Path) -> None:
    """Drop host-specific and cached files from the tree, then apply the overlay."""
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists"):
        directory = rootfs / rel
        for entry in directory.glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()
    # debootstrap copies the build host's resolver and name; the engine provides its own.
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").unlink(missing_ok=True)
    if overlay.is_dir():
        shutil.copytree(overlay, rootfs, symlinks=True, dirs_exist_ok=True)


async def _run_debootstrap(base: BaseRecipe, rootfs: Path, progress: Callable[[str], None]) -> None:
    cmd = [_debootstrap_command(), f"--variant={base.variant}", base.suite, str(rootfs)]
    progress(f"  $ {' '.join(cmd)}")
    # Own session: on cancellation the whole tree (debootstrap, chroot, dpkg) is killed before
    # the half-built tree is deleted.
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    try:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = (tail + [line])[-20:]
            # debootstrap prints lines per package; report only its stages.
            if not _PER_PACKAGE.match(line):
                progress(f"  {line}")
        await proc.wait()
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
        raise
    if proc.returncode != 0:
        log = rootfs / "debootstrap/debootstrap.log"
        if log.exists():
            tail += log.read_text(errors="replace").splitlines()[-20:]
        raise BaseBuildError("debootstrap failed:\n  | " + "\n  | ".join(tail))


async def _pack(rootfs: Path, out: Path) -> None:
    # GNU tar keeps ownership, permissions, xattrs (file capabilities) and hard links.
    # /dev, /proc and /sys are left empty: the engine mounts its own.
    cmd = [
        "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--sort=name",
        "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
        "-C", str(rootfs), "-cf", str(out), ".",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BaseBuildError(f"tar failed: {err.decode(errors='replace').strip()}")


async def build_rootfs_tar(
    base: BaseRecipe, cache_dir: Path, base_hash: str, progress: Callable[[str], None]
) -> Path:
    """Debootstrap the base tree and pack it as ``cached_tar(cache_dir, base_hash)``.

    Needs root. The tar appears atomically (written under a temporary name, then renamed);
    older ``base-*.tar`` files in ``cache_dir`` are deleted afterwards. Raises BaseBuildError.
    """
    if os.geteuid() != 0:
        raise BaseBuildError("building the base image runs debootstrap and needs root")
    target = cached_tar(cache_dir, base_hash)
    work = _new_workdir(cache_dir)
    rootfs = work / "rootfs"
    partial = work / "rootfs.tar"
    try:
        await _run_debootstrap(base, rootfs, progress)
        _tidy_rootfs(rootfs, base.overlay)
        progress("  packing the root filesystem")
        await _pack(rootfs, partial)
        partial.replace(target)
    finally:
        await asyncio.to_thread(remove_tree, work)
    _prune_cache(cache_dir, keep=target)
    return target


def _new_workdir(cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir))


def _prune_cache(cache_dir: Path, keep: Path) -> None:
    for old in cache_dir.glob("base-*.tar"):
        if old != keep:
            old.unlink(missing_ok=True)
