"""Environment image builder: a debootstrapped base image plus recipes under ``images/``.

Public API: ``build_all`` (build what is out of date), ``BuiltImage``, ``recipe_hash``,
``ImageBuildError``, ``RecipeError``; the label contract lives in ``berth.images.labels``.
Command line: ``python -m berth.images build [--force] [RECIPE ...]``.
"""

from berth.images.build import BuiltImage, ImageBuildError, build_all
from berth.images.recipes import RecipeError, recipe_hash

__all__ = ["BuiltImage", "ImageBuildError", "RecipeError", "build_all", "recipe_hash"]
