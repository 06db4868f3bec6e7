"""Environment image builder: recipe hashing (no engine) and real builds against Docker.

The engine tests build every image under images/ (a cached no-op after scripts/setup.sh)
and start containers only through aiodocker, always removing them again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tarfile
import time
from pathlib import Path

import aiodocker
import pytest
from aiodocker.exceptions import DockerError

from berth.images import BuiltImage, build_all, recipe_hash
from berth.images import labels as L
from berth.images.build import write_context
from berth.images.recipes import discover_recipes, load_recipe
from berth.images.wheels import platform_args

IMAGES_DIR = Path(__file__).resolve().parents[2] / "images"
PYTHON_TAG = "berth/python:3.11"
CPP_TAG = "berth/cpp:gcc12"
BASE_TAG = "berth/base:bookworm"
TEST_LABEL = {"berth.test": "test_images"}

# Engine tests carry timeout(1800): a cold build (debootstrap, apt, wheels) takes minutes.


# --- recipe hashing (pure) --------------------------------------------------------------------


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    copy = tmp_path / "python-3.11"
    shutil.copytree(IMAGES_DIR / "python-3.11", copy, ignore=shutil.ignore_patterns("wheels"))
    return copy


def test_recipe_hash_is_stable_and_location_independent(recipe: Path, tmp_path: Path) -> None:
    first = recipe_hash(recipe, "base")
    assert recipe_hash(recipe, "base") == first
    moved = shutil.copytree(recipe, tmp_path / "elsewhere" / "python-3.11")
    os.utime(moved / "Dockerfile", (0, 0))
    assert recipe_hash(moved, "base") == first


@pytest.mark.parametrize("edit", ["dockerfile", "requirements", "new-file", "exec-bit"])
def test_recipe_hash_changes_with_recipe_files(recipe: Path, edit: str) -> None:
    before = recipe_hash(recipe, "base")
    if edit == "dockerfile":
        with (recipe / "Dockerfile").open("a") as f:
            f.write("\n# changed\n")
    elif edit == "requirements":
        with (recipe / "requirements.txt").open("a") as f:
            f.write("rich\n")
    elif edit == "new-file":
        (recipe / "extra.sh").write_text("echo hi\n")
    else:
        (recipe / "berth-venv.sh").chmod(0o755)
    assert recipe_hash(recipe, "base") != before


def test_recipe_hash_depends_on_base_hash(recipe: Path) -> None:
    assert recipe_hash(recipe, "base-a") != recipe_hash(recipe, "base-b")


def test_recipe_hash_ignores_wheels_and_hidden_files(recipe: Path) -> None:
    before = recipe_hash(recipe, "base")
    (recipe / "wheels").mkdir()
    (recipe / "wheels" / "numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"x")
    (recipe / ".DS_Store").write_bytes(b"junk")
    (recipe / "__pycache__").mkdir()
    (recipe / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert recipe_hash(recipe, "base") == before


def test_build_context_holds_recipe_files_and_wheels(recipe: Path, tmp_path: Path) -> None:
    (recipe / "wheels").mkdir()
    (recipe / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (recipe / "wheels" / ".berth-stamp").write_text("stamp")
    out = tmp_path / "context.tar"
    write_context(load_recipe(recipe), out)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        assert {m.uid for m in tar.getmembers()} == {0}
    assert {"Dockerfile", "requirements.txt", "wheels/a-1.0-py3-none-any.whl"} <= names
    assert "wheels/.berth-stamp" not in names


def test_recipes_and_wheel_platforms() -> None:
    recipes = {r.name: r for r in discover_recipes(IMAGES_DIR)}
    assert recipes["python-3.11"].tag == PYTHON_TAG
    assert recipes["cpp-gcc12"].tag == CPP_TAG
    settings = recipes["python-3.11"].wheels
    assert settings is not None
    args = platform_args(settings, machine="x86_64")
    assert "manylinux_2_36_x86_64" in args and "manylinux_2_17_x86_64" in args
    assert "manylinux_2_37_x86_64" not in args


def test_label_contract_checks() -> None:
    apps = L.parse_apps("jupyter:http:8888, sshd:tcp:2200")
    assert apps == [L.AppSpec("jupyter", "http", 8888), L.AppSpec("sshd", "tcp", 2200)]
    with pytest.raises(ValueError):
        L.parse_apps("jupyter:gopher:8888")
    problems = L.environment_label_problems({L.KIND: "environment", L.MIN_MEM: "lots"})
    assert any(L.DISPLAY_NAME in p for p in problems)
    assert any(L.MIN_MEM in p for p in problems)


# --- real builds ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> dict[str, BuiltImage]:
    """Build (or confirm up to date) every image once for this module."""
    try:
        results = asyncio.run(build_all(IMAGES_DIR, progress=lambda line: None))
    except DockerError as exc:
        pytest.fail(f"Docker engine unreachable ({exc}); run scripts/ensure-docker.sh")
    return {r.tag: r for r in results}


async def run_in(image: str, script: str) -> tuple[int, str]:
    """Run ``sh -c script`` in a fresh container (with an init process); exit code + output."""
    docker = aiodocker.Docker()
    container = None
    try:
        container = await docker.containers.create(
            config={
                "Image": image,
                "Cmd": ["sh", "-c", script],
                "Labels": TEST_LABEL,
                "HostConfig": {"Init": True},
            }
        )
        await container.start()
        result = await container.wait(timeout=120)
        output = "".join(await container.log(stdout=True, stderr=True))
        return int(result["StatusCode"]), output
    finally:
        if container is not None:
            await container.delete(force=True)
        await docker.close()


def facts(output: str) -> dict[str, str]:
    """``key=value`` lines of a container's output as a dict."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@pytest.mark.parametrize(
    ("tag", "display", "version", "apps"),
    [
        (PYTHON_TAG, "Python 3.11", "3.11",
         "jupyter:http:8888,tensorboard:http:6006,sshd:tcp:2200,terminal:pty:7681"),
        (CPP_TAG, "C++ (GCC 12)", "gcc12", "sshd:tcp:2200,terminal:pty:7681"),
    ],
)  # fmt: skip
@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_images_carry_the_label_contract(
    built: dict[str, BuiltImage], tag: str, display: str, version: str, apps: str
) -> None:
    async with aiodocker.Docker() as docker:
        inspect = await docker.images.inspect(tag)
        base = await docker.images.inspect(BASE_TAG)
    labels = inspect["Config"]["Labels"]
    assert labels[L.KIND] == "environment"
    assert labels[L.DISPLAY_NAME] == display
    assert labels[L.VERSION] == version
    assert labels[L.APPS] == apps
    assert float(labels[L.MIN_CPU]) > 0 and int(labels[L.MIN_MEM]) > 0
    assert labels[L.RECIPE_HASH] == built[tag].recipe_hash
    assert L.environment_label_problems(labels) == []
    assert inspect["Config"]["User"] == "work"
    assert inspect["Config"]["WorkingDir"] == "/home/work"
    assert not inspect["Config"]["Entrypoint"]
    assert base["Config"]["Labels"][L.RECIPE_HASH] == built[BASE_TAG].recipe_hash


PYTHON_PROBE = r"""
echo uid=$(id -u); echo gid=$(id -g); echo home=$HOME; echo pwd=$(pwd)
echo pid1=$(tr '\0' ' ' </proc/1/cmdline)
echo python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
for c in jupyter tensorboard tmux sshd bash ps less curl; do echo "cmd_$c=$(command -v $c)"; done
echo login_jupyter=$(bash -lc 'command -v jupyter')
echo sftp=$(test -x /usr/lib/openssh/sftp-server && echo yes)
echo hostkeys=$(ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l)
echo kernels=$(jupyter kernelspec list --json \
  | python3 -c 'import json, sys; print(",".join(json.load(sys.stdin)["kernelspecs"]))')
mkdir -p ~/.ssh && ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/host_key \
  && ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 \
  && cp ~/.ssh/id_ed25519.pub ~/.ssh/authorized_keys \
  && /usr/sbin/sshd -h ~/.ssh/host_key -p 2200 -o PidFile=/tmp/sshd.pid && sleep 0.5 \
  && echo ssh_jupyter=$(ssh -o StrictHostKeyChecking=no -o BatchMode=yes -p 2200 \
       work@127.0.0.1 'command -v jupyter' 2>/dev/null)
jupyter lab --no-browser --ip=127.0.0.1 --port=8888 --ServerApp.token='' >/tmp/j.log 2>&1 &
tensorboard --logdir /tmp/tb --host 127.0.0.1 --port 6006 >/tmp/tb.log 2>&1 &
for i in $(seq 120); do
  curl -fsS -o /dev/null http://127.0.0.1:8888/api \
    && curl -fsS -o /dev/null http://127.0.0.1:6006/ && echo apps=up && break
  sleep 0.5
done
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_python_image_runs_as_work_with_its_tools(built: dict[str, BuiltImage]) -> None:
    code, output = await run_in(PYTHON_TAG, PYTHON_PROBE)
    got = facts(output)
    assert code == 0, output
    assert (got["uid"], got["gid"], got["home"], got["pwd"]) == ("1000", "1000", "/home/work",
                                                                 "/home/work"), output  # fmt: skip
    assert "docker-init" in got["pid1"], "HostConfig.Init=true should run docker-init as PID 1"
    assert got["python"] == "3.11"
    for command in ("jupyter", "tensorboard", "tmux", "sshd", "bash", "ps", "less", "curl"):
        assert got[f"cmd_{command}"], f"{command} not on PATH:\n{output}"
    assert got["cmd_jupyter"] == got["login_jupyter"] == "/opt/berth/venv/bin/jupyter"
    assert got["sftp"] == "yes"
    assert got["hostkeys"] == "0", "no ssh host keys may be baked into the image"
    assert "python3" in got["kernels"].split(",")
    # sshd runs unprivileged as `work` with its own host key; ssh commands see the venv.
    assert got.get("ssh_jupyter") == "/opt/berth/venv/bin/jupyter", output
    assert got.get("apps") == "up", output


CPP_PROBE = r"""
echo uid=$(id -u); echo home=$HOME
echo gcc=$(g++ -dumpversion)
for c in make gdb tmux sshd bash ps; do echo "cmd_$c=$(command -v $c)"; done
printf '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n' >/tmp/a.cpp
g++ -std=c++20 -O1 -o /tmp/a /tmp/a.cpp && echo run=$(/tmp/a)
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_cpp_image_compiles_with_gcc12(built: dict[str, BuiltImage]) -> None:
    code, output = await run_in(CPP_TAG, CPP_PROBE)
    got = facts(output)
    assert code == 0, output
    assert (got["uid"], got["home"]) == ("1000", "/home/work")
    assert got["gcc"].split(".")[0] == "12"
    for command in ("make", "gdb", "tmux", "sshd", "bash", "ps"):
        assert got[f"cmd_{command}"], f"{command} not on PATH:\n{output}"
    assert got["run"] == "hello"


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_second_build_does_nothing(built: dict[str, BuiltImage]) -> None:
    started = time.monotonic()
    again = await build_all(IMAGES_DIR, progress=lambda line: None)
    assert again[0].tag == BASE_TAG
    assert {BASE_TAG, CPP_TAG, PYTHON_TAG} <= {r.tag for r in again}
    assert not any(r.built for r in again), again
    assert {r.tag: r.recipe_hash for r in again} == {t: b.recipe_hash for t, b in built.items()}
    assert time.monotonic() - started < 10
