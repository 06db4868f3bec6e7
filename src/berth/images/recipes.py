"""Image recipes on disk: discovery, settings (``recipe.toml``) and recipe hashes.

Layout of the images directory (``images/`` in the repository)::

    images/
      base/             the base root filesystem (debootstrap); see BaseRecipe
        recipe.toml     tag + [debootstrap] suite, variant
        overlay/        files copied on top of the debootstrapped tree
      <name>/           one environment image per directory holding a Dockerfile
        recipe.toml     tag (+ optional [wheels] section, see WheelSettings)
        Dockerfile      FROM ${BASE_IMAGE}; LABELs per berth.images.labels
        ...             anything else the Dockerfile COPYs
        wheels/         host-downloaded wheels (git-ignored, never hashed)
      .cache/           builder cache (git-ignored): the base root filesystem tar

Everything here is pure file reading: no engine, no network.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

#: Bumped when the hashing scheme itself changes, so that old labels stop matching.
HASH_SCHEME = "berth-recipe-v1"
#: Directory (directly under a recipe) holding downloaded wheels: part of the build context,
#: never part of the recipe hash (its content follows from requirements.txt).
WHEELS_DIR = "wheels"
BASE_DIR = "base"
RECIPE_FILE = "recipe.toml"


class RecipeError(ValueError):
    """A recipe directory is malformed (missing or invalid ``recipe.toml`` / Dockerfile)."""


@dataclass(frozen=True)
class WheelSettings:
    """How to download a recipe's Python wheels on the host (``[wheels]`` in recipe.toml).

    ``python_version`` is the image interpreter's ``X.Y``; ``glibc`` the image's C library
    version ``X.Y``, the newest manylinux level accepted.
    """

    requirements: str
    python_version: str
    glibc: str


@dataclass(frozen=True)
class Recipe:
    """One environment image recipe: ``<images>/<name>/`` with a Dockerfile."""

    name: str
    path: Path
    tag: str
    wheels: WheelSettings | None


@dataclass(frozen=True)
class BaseRecipe:
    """The base image recipe: ``<images>/base/``."""

    path: Path
    tag: str
    suite: str
    variant: str

    @property
    def overlay(self) -> Path:
        return self.path / "overlay"


def _read_settings(recipe_dir: Path) -> dict[str, object]:
    try:
        with (recipe_dir / RECIPE_FILE).open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as exc:
        raise RecipeError(f"{recipe_dir}: missing {RECIPE_FILE}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{recipe_dir / RECIPE_FILE}: {exc}") from exc
    tag = data.get("tag")
    if not isinstance(tag, str) or ":" not in tag:
        raise RecipeError(f"{recipe_dir / RECIPE_FILE}: 'tag' must be 'repository:tag'")
    return data


def _section(data: dict[str, object], name: str, recipe_dir: Path) -> dict[str, str] | None:
    section = data.get(name)
    if section is None:
        return None
    if not isinstance(section, dict) or not all(isinstance(v, str) for v in section.values()):
        raise RecipeError(f"{recipe_dir / RECIPE_FILE}: [{name}] values must be strings")
    return section


def load_base(images_dir: Path) -> BaseRecipe:
    """Read ``<images_dir>/base/recipe.toml``. Raises RecipeError when malformed."""
    path = images_dir / BASE_DIR
    data = _read_settings(path)
    deb = _section(data, "debootstrap", path) or {}
    try:
        return BaseRecipe(path, str(data["tag"]), deb["suite"], deb.get("variant", "minbase"))
    except KeyError as exc:
        raise RecipeError(f"{path / RECIPE_FILE}: [debootstrap] needs 'suite'") from exc


def load_recipe(recipe_dir: Path) -> Recipe:
    """Read one environment recipe directory. Raises RecipeError when malformed."""
    if not (recipe_dir / "Dockerfile").is_file():
        raise RecipeError(f"{recipe_dir}: missing Dockerfile")
    data = _read_settings(recipe_dir)
    wheels = None
    section = _section(data, "wheels", recipe_dir)
    if section is not None:
        try:
            wheels = WheelSettings(
                requirements=section.get("requirements", "requirements.txt"),
                python_version=section["python-version"],
                glibc=section["glibc"],
            )
        except KeyError as exc:
            raise RecipeError(f"{recipe_dir / RECIPE_FILE}: [wheels] needs {exc}") from exc
    return Recipe(recipe_dir.name, recipe_dir, str(data["tag"]), wheels)


def discover_recipes(images_dir: Path) -> list[Recipe]:
    """All environment recipes under ``images_dir``, sorted by directory name.

    A recipe is any non-hidden subdirectory with a Dockerfile, except ``base/``.
    """
    return [
        load_recipe(p)
        for p in sorted(images_dir.iterdir())
        if p.is_dir()
        and p.name != BASE_DIR
        and not p.name.startswith(".")
        and (p / "Dockerfile").is_file()
    ]


def recipe_files(recipe_dir: Path) -> list[Path]:
    """The files that define a recipe, as paths relative to ``recipe_dir``, sorted.

    Regular files only (symlinks and special files are ignored); hidden files and directories,
    ``__pycache__`` and the top-level ``wheels/`` directory are excluded.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(recipe_dir):
        rel_root = Path(root).relative_to(recipe_dir)
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d != "__pycache__"
            and not (rel_root == Path(".") and d == WHEELS_DIR)
        ]
        for name in files:
            full = Path(root) / name
            if not name.startswith(".") and full.is_file() and not full.is_symlink():
                found.append(rel_root / name)
    return sorted(found, key=lambda p: p.as_posix())


def _tree_digest(directory: Path, *extra: str) -> str:
    h = hashlib.sha256(HASH_SCHEME.encode())
    for value in extra:
        h.update(b"\0" + value.encode())
    for rel in recipe_files(directory):
        full = directory / rel
        executable = b"x" if full.stat().st_mode & 0o111 else b"-"
        h.update(b"\0" + rel.as_posix().encode() + b"\0" + executable + b"\0")
        h.update(hashlib.sha256(full.read_bytes()).digest())
    return h.hexdigest()


def recipe_hash(recipe_dir: Path, base_hash: str) -> str:
    """sha256 (hex) over a recipe's files (see ``recipe_files``) and its base's hash.

    Stable across runs and machines for the same file contents (paths, contents and the
    executable bit count; timestamps do not). Changes whenever any recipe file or the base
    changes; downloaded wheels are ignored.
    """
    return _tree_digest(recipe_dir, "recipe", base_hash)


def base_hash(base: BaseRecipe) -> str:
    """sha256 (hex) over the base recipe directory (recipe.toml, overlay/) and its settings."""
    return _tree_digest(base.path, "base", base.tag, base.suite, base.variant)
