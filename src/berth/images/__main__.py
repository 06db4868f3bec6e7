"""``python -m berth.images build [--force] [--images-dir DIR] [RECIPE ...]``.

Exit status 0 when every image is built or up to date, 1 when a build failed, 2 on usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from aiodocker.exceptions import DockerError

from berth.images.build import ImageBuildError, build_all
from berth.images.recipes import RecipeError


def _default_images_dir() -> Path:
    # The repository's images/ when run from a checkout (src/berth/images -> repo root).
    repo_images = Path(__file__).resolve().parents[3] / "images"
    return repo_images if repo_images.is_dir() else Path("images")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m berth.images")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the base and environment images if outdated")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.add_argument("--images-dir", type=Path, default=None, help="recipes directory")
    build.add_argument("recipes", nargs="*", help="recipe directory names (default: all)")
    args = parser.parse_args(argv)

    images_dir = args.images_dir or _default_images_dir()
    started = time.monotonic()
    try:
        results = asyncio.run(
            build_all(
                images_dir,
                force=args.force,
                only=args.recipes or None,
                progress=lambda line: print(line, flush=True),
            )
        )
    except (ImageBuildError, RecipeError, DockerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    built = sum(r.built for r in results)
    elapsed = time.monotonic() - started
    print(
        f"{len(results)} images, {built} built, {len(results) - built} up to date ({elapsed:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
