"""The image label contract between environment images and the agent.

Every environment image carries these labels (set by LABEL instructions in its Dockerfile,
except ``berth.recipe-hash``, which the builder adds):

``berth.kind``          ``environment`` (the base image says ``base``)
``berth.display-name``  human name, e.g. ``Python 3.11``
``berth.version``       short version, e.g. ``3.11``
``berth.apps``          comma-separated ``name:protocol:port``, e.g. ``jupyter:http:8888``
``berth.min.cpu``       minimum CPU cores, a positive number, e.g. ``1``
``berth.min.mem``       minimum memory in bytes, a positive integer string
``berth.recipe-hash``   see ``berth.images.recipes.recipe_hash``

Optional:

``berth.accelerators``  comma-separated accelerator plugins the image can use, e.g. ``cuda``
                        (its CUDA libraries); a session asking for a plugin's devices with
                        an image that does not list it is refused. Mock plugins need none.

Images also set ``USER work`` (uid 1000) and ``WORKDIR /home/work`` and no ENTRYPOINT, so an
arbitrary command (``sleep infinity``, ``sh -c ...``) can be run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

KIND = "berth.kind"
DISPLAY_NAME = "berth.display-name"
VERSION = "berth.version"
APPS = "berth.apps"
MIN_CPU = "berth.min.cpu"
MIN_MEM = "berth.min.mem"
RECIPE_HASH = "berth.recipe-hash"
ACCELERATORS = "berth.accelerators"
#: Plugins whose devices an image must declare it can use (``ACCELERATORS``): a real GPU
#: needs the image's user-space libraries; the mock needs nothing.
NEED_IMAGE_SUPPORT = frozenset({"cuda"})


def accelerators_of(labels: Mapping[str, str]) -> frozenset[str]:
    """The plugins an image declares in ``berth.accelerators`` (empty when absent)."""
    return frozenset(p.strip() for p in str(labels.get(ACCELERATORS, "")).split(",")
                     if p.strip())

KIND_ENVIRONMENT = "environment"
KIND_BASE = "base"
REQUIRED = (KIND, DISPLAY_NAME, VERSION, APPS, MIN_CPU, MIN_MEM, RECIPE_HASH)
APP_PROTOCOLS = frozenset({"http", "tcp", "pty"})


@dataclass(frozen=True)
class AppSpec:
    """One entry of ``berth.apps``: an app the image can serve on a container port."""

    name: str
    protocol: str
    port: int


def parse_apps(value: str) -> list[AppSpec]:
    """Parse a ``berth.apps`` value. Empty string -> []. Raises ValueError when malformed."""
    apps: list[AppSpec] = []
    for entry in filter(None, (e.strip() for e in value.split(","))):
        parts = entry.split(":")
        if len(parts) != 3 or not parts[0] or not parts[2].isdigit():
            raise ValueError(f"bad app entry {entry!r}, expected name:protocol:port")
        name, protocol, port = parts[0], parts[1], int(parts[2])
        if protocol not in APP_PROTOCOLS:
            raise ValueError(f"bad app protocol in {entry!r}, expected one of {APP_PROTOCOLS}")
        if not 0 < port < 65536:
            raise ValueError(f"bad app port in {entry!r}")
        apps.append(AppSpec(name, protocol, port))
    return apps


def environment_label_problems(labels: Mapping[str, str]) -> list[str]:
    """What is wrong with an environment image's labels; [] when they meet the contract."""
    problems = [f"missing label {key}" for key in REQUIRED if not labels.get(key)]
    if labels.get(KIND, KIND_ENVIRONMENT) != KIND_ENVIRONMENT:
        problems.append(f"{KIND} must be {KIND_ENVIRONMENT!r}")
    try:
        parse_apps(labels.get(APPS, ""))
    except ValueError as exc:
        problems.append(f"{APPS}: {exc}")
    try:
        if float(labels.get(MIN_CPU, "1")) <= 0:
            raise ValueError
    except ValueError:
        problems.append(f"{MIN_CPU} must be a positive number")
    mem = labels.get(MIN_MEM, "1")
    if not mem.isdigit() or int(mem) <= 0:
        problems.append(f"{MIN_MEM} must be a positive integer (bytes)")
    return problems
