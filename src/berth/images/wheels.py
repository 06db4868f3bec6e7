"""Download a recipe's Python wheels on the host, for ``pip install --no-index`` in the image.

Containers built here cannot reach the package index with verified TLS, so the host's pip
(with the host's settings: index, certificates, proxies) fetches binary wheels for the image's
interpreter and platform into ``<recipe>/wheels/``. A stamp file remembers what was
downloaded, so an unchanged requirements file costs nothing on the next build.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import platform
import shutil
import sys
from collections.abc import Callable

from berth.images.recipes import WHEELS_DIR, Recipe, WheelSettings

STAMP = ".berth-stamp"
#: Oldest perennial manylinux level pip is asked about (manylinux2014 == manylinux_2_17).
_OLDEST_GLIBC_MINOR = 17


class WheelDownloadError(RuntimeError):
    """pip is missing or ``pip download`` failed."""


def pip_command() -> list[str]:
    """A command that runs pip: this interpreter's pip if it has one, else pip3/pip on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if found := shutil.which(name):
            return [found]
    raise WheelDownloadError("no pip found on the host (needed to download image wheels)")


def platform_args(settings: WheelSettings, machine: str | None = None) -> list[str]:
    """pip arguments selecting wheels for the image's interpreter and C library."""
    arch = machine or platform.machine()
    major, minor = settings.glibc.split(".")
    if major != "2":
        raise WheelDownloadError(f"unsupported glibc version {settings.glibc!r}")
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(int(minor), _OLDEST_GLIBC_MINOR - 1, -1)]
    # pip widens manylinux2014 to manylinux2010/manylinux1 on x86 by itself.
    platforms.append(f"manylinux2014_{arch}")
    py = settings.python_version.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp"]
    args += ["--python-version", settings.python_version, "--abi", f"cp{py}"]
    for tag in platforms:
        args += ["--platform", tag]
    return args


def _stamp_for(recipe: Recipe, settings: WheelSettings, args: list[str]) -> str:
    h = hashlib.sha256((recipe.path / settings.requirements).read_bytes())
    h.update("\0".join(args).encode())
    return h.hexdigest()


async def ensure_wheels(
    recipe: Recipe, *, force: bool = False, progress: Callable[[str], None] = print
) -> bool:
    """Make ``<recipe>/wheels/`` hold the wheels for the recipe's requirements.

    No-op for recipes without a ``[wheels]`` section. Returns True when pip was run, False when
    the stamp showed the wheels are current (``force`` downloads again). Idempotent.
    Raises WheelDownloadError when pip fails (e.g. no network, no binary wheel for a package).
    """
    settings = recipe.wheels
    wheels_dir = recipe.path / WHEELS_DIR
    if settings is None:
        return False
    args = platform_args(settings)
    stamp = _stamp_for(recipe, settings, args)
    stamp_file = wheels_dir / STAMP
    if not force and stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        progress(f"  wheels for {recipe.name} up to date")
        return False
    if wheels_dir.exists():
        shutil.rmtree(wheels_dir)
    wheels_dir.mkdir()
    cmd = pip_command() + ["download", "--disable-pip-version-check", "--quiet"]
    cmd += args + ["--dest", str(wheels_dir), "-r", str(recipe.path / settings.requirements)]
    progress(f"  downloading wheels for {recipe.name} (pip download)")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode != 0:
        tail = out.decode(errors="replace").strip().splitlines()[-15:]
        raise WheelDownloadError("pip download failed:\n  | " + "\n  | ".join(tail))
    stamp_file.write_text(stamp + "\n")
    count = len(list(wheels_dir.glob("*.whl")))
    progress(f"  {count} wheels downloaded")
    return True
