"""Build the base image and every environment image recipe, skipping what is up to date.

An image is up to date when an image with its tag exists and its ``berth.recipe-hash`` label
equals the recipe's current hash (``berth.images.recipes``). A run with nothing to do makes
only a few inspect calls and finishes in well under a second.
"""

from __future__ import annotations

import asyncio
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker

from berth.images import base as base_mod
from berth.images import labels as L
from berth.images.engine import (
    EngineError,
    build_image,
    image_inspect,
    image_labels,
    import_rootfs,
    prune_dangling,
    remove_image_quietly,
)
from berth.images.recipes import (
    WHEELS_DIR,
    BaseRecipe,
    Recipe,
    RecipeError,
    base_hash,
    discover_recipes,
    load_base,
    recipe_files,
    recipe_hash,
)
from berth.images.wheels import WheelDownloadError, ensure_wheels

__all__ = ["BuiltImage", "ImageBuildError", "build_all", "recipe_hash"]

Progress = Callable[[str], None]
#: Build argument through which each recipe's Dockerfile receives the base image tag.
BASE_BUILD_ARG = "BASE_IMAGE"
EXPECTED_USER = "work"
EXPECTED_WORKDIR = "/home/work"


@dataclass(frozen=True)
class BuiltImage:
    """Outcome for one image: ``built`` is False when it was already up to date."""

    tag: str
    recipe_hash: str
    built: bool


class ImageBuildError(RuntimeError):
    """Building an image failed; the message names the image and carries the log tail."""


def _is_current(inspect: dict[str, Any] | None, wanted_hash: str) -> bool:
    return image_labels(inspect).get(L.RECIPE_HASH) == wanted_hash


async def ensure_base(
    docker: aiodocker.Docker,
    base: BaseRecipe,
    cache_dir: Path,
    *,
    force: bool = False,
    progress: Progress = print,
) -> BuiltImage:
    """Make ``base.tag`` exist with the current base hash.

    Imports the cached root filesystem tar if there is one, otherwise debootstraps first
    (minutes; needs root). ``force`` re-imports even when up to date, but still reuses the
    cached tar. Idempotent.
    """
    wanted = base_hash(base)
    if not force and _is_current(await image_inspect(docker, base.tag), wanted):
        progress(f"{base.tag}: up to date")
        return BuiltImage(base.tag, wanted, built=False)
    started = time.monotonic()
    tar_path = base_mod.cached_tar(cache_dir, wanted)
    if not tar_path.is_file():
        progress(f"{base.tag}: debootstrap {base.suite} ({base.variant}), takes a few minutes")
        try:
            tar_path = await base_mod.build_rootfs_tar(base, cache_dir, wanted, progress)
        except base_mod.BaseBuildError as exc:
            raise ImageBuildError(f"{base.tag}: {exc}") from exc
    progress(f"{base.tag}: importing {tar_path.name}")
    changes = list(base_mod.IMPORT_CHANGES)
    changes += [f"LABEL {L.KIND}={L.KIND_BASE}", f"LABEL {L.RECIPE_HASH}={wanted}"]
    try:
        await import_rootfs(docker, tar_path, base.tag, changes)
    except EngineError as exc:
        raise ImageBuildError(str(exc)) from exc
    progress(f"{base.tag}: done in {time.monotonic() - started:.0f}s")
    return BuiltImage(base.tag, wanted, built=True)


def write_context(recipe: Recipe, out: Path) -> None:
    """Write the recipe's build context tar: its recipe files plus ``wheels/`` if present.

    Owners, timestamps and order are normalised so equal inputs give an equal tar.
    """

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.mode & 0o111 else 0o644
        return info

    members = [p.as_posix() for p in recipe_files(recipe.path)]
    wheels = recipe.path / WHEELS_DIR
    if wheels.is_dir():
        members.append(WHEELS_DIR)
        members += sorted(
            f"{WHEELS_DIR}/{p.name}"
            for p in wheels.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in members:
            tar.add(recipe.path / name, arcname=name, recursive=False, filter=normalise)


def _write_context_file(recipe: Recipe, cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"context-{recipe.name}-", suffix=".tar", dir=cache_dir)
    os.close(fd)
    write_context(recipe, Path(name))
    return Path(name)


def _config_problems(inspect: dict[str, Any]) -> list[str]:
    config = inspect.get("Config") or {}
    problems = L.environment_label_problems(image_labels(inspect))
    if config.get("User") != EXPECTED_USER:
        problems.append(f"USER must be {EXPECTED_USER!r}, is {config.get('User')!r}")
    if config.get("WorkingDir") != EXPECTED_WORKDIR:
        problems.append(f"WORKDIR must be {EXPECTED_WORKDIR!r}")
    if config.get("Entrypoint"):
        problems.append("no ENTRYPOINT allowed (the agent runs arbitrary commands)")
    return problems


async def build_recipe(
    docker: aiodocker.Docker,
    recipe: Recipe,
    base: BuiltImage,
    cache_dir: Path,
    *,
    force: bool = False,
    progress: Progress = print,
    stage_ids: set[str] | None = None,
) -> BuiltImage:
    """Make ``recipe.tag`` exist with the recipe's current hash, building it if needed.

    The short ids of all images the build produced or reused are added to ``stage_ids``.

    Downloads wheels first when the recipe has a ``[wheels]`` section. After a build the image
    is checked against the label contract; a non-conforming image is removed again and
    ImageBuildError raised. ``force`` rebuilds without the engine's layer cache. Idempotent.
    """
    wanted = recipe_hash(recipe.path, base.recipe_hash)
    if not force and _is_current(await image_inspect(docker, recipe.tag), wanted):
        progress(f"{recipe.tag}: up to date")
        return BuiltImage(recipe.tag, wanted, built=False)
    started = time.monotonic()
    progress(f"{recipe.tag}: building from images/{recipe.name}")
    try:
        await ensure_wheels(recipe, force=force, progress=progress)
    except WheelDownloadError as exc:
        raise ImageBuildError(f"{recipe.tag}: {exc}") from exc
    context = await asyncio.to_thread(_write_context_file, recipe, cache_dir)
    try:
        used = await build_image(
            docker,
            context,
            recipe.tag,
            labels={L.RECIPE_HASH: wanted},
            buildargs={BASE_BUILD_ARG: base.tag},
            nocache=force,
            progress=progress,
        )
    except EngineError as exc:
        raise ImageBuildError(str(exc)) from exc
    finally:
        context.unlink(missing_ok=True)
    built = await image_inspect(docker, recipe.tag)
    problems = _config_problems(built) if built else ["image missing after build"]
    if problems:
        await remove_image_quietly(docker, recipe.tag)
        raise ImageBuildError(f"{recipe.tag} breaks the image contract: " + "; ".join(problems))
    progress(f"{recipe.tag}: built in {time.monotonic() - started:.0f}s")
    if stage_ids is not None:
        stage_ids |= used
    return BuiltImage(recipe.tag, wanted, built=True)


async def build_all(
    images_dir: Path,
    *,
    force: bool = False,
    progress: Progress = print,
    only: Collection[str] | None = None,
    cache_dir: Path | None = None,
) -> list[BuiltImage]:
    """Build the base image and the environment images under ``images_dir``, in that order.

    Returns one BuiltImage per image, the base first, then recipes sorted by directory name
    (``only`` restricts recipes to those directory names; the base is always ensured).
    Images that are up to date are not touched (``built=False``) unless ``force``. After a
    run that built something, untagged Berth images left over from earlier builds (replaced
    images, intermediate stages) are removed unless a container still uses them; the newest
    build's intermediate stages (new or reused) stay as the engine's layer cache.
    ``cache_dir`` defaults to ``images_dir/.cache``. Safe to call repeatedly; callable again
    after a failure. Raises ImageBuildError (a recipe or the engine failed) or RecipeError
    (a malformed recipe), and aiodocker's DockerError when the engine cannot be reached.
    """
    cache = cache_dir or images_dir / ".cache"
    base_recipe = load_base(images_dir)
    recipes = discover_recipes(images_dir)
    if only is not None:
        unknown = set(only) - {r.name for r in recipes}
        if unknown:
            raise RecipeError(f"no such recipe(s): {', '.join(sorted(unknown))}")
        recipes = [r for r in recipes if r.name in only]
    started = time.time()
    docker = aiodocker.Docker()
    try:
        base = await ensure_base(docker, base_recipe, cache, force=force, progress=progress)
        results = [base]
        used: set[str] = set()
        for recipe in recipes:
            results.append(
                await build_recipe(
                    docker, recipe, base, cache, force=force, progress=progress, stage_ids=used
                )
            )
        if any(r.built for r in results):
            removed = await prune_dangling(docker, L.KIND, created_before=int(started), keep=used)
            if removed:
                progress(f"removed {removed} outdated image(s)")
        return results
    finally:
        await docker.close()
