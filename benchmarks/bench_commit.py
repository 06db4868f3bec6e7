"""Commit to image: Berth's commit of a session that added ~500 MB against a raw engine commit
of an equal container, in the same run.

    uv run python benchmarks/bench_commit.py [--mb 500] [--runs 1]

Starts its own Berth (manager + agent subprocesses on SQLite, through ``tests/cluster.py``).
Each run, in turn (the order alternates between runs):

- Berth: an interactive session of the Python image writes ``--mb`` MB of random data into
  ``/opt/berth/venv/blob`` (outside /home/work, so it is in the container's layer), then
  the clock runs from ``POST /api/sessions/{id}/commit`` until the SDK reads the task
  ``done`` (engine commit, scrubbing container and second commit, the manager's and the
  SDK's polling included);
- raw: a container of the same image, user and command writes the same amount the same way,
  then the clock runs around one Engine API commit of it (``POST /commit``, tagging it).

Prints each time, the medians and the ratio Berth / raw. Every container and image it makes
is removed, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import aiodocker  # noqa: E402

from berth.client import Client  # noqa: E402
from cluster import Cluster, run_async, wait_status  # noqa: E402
from dockerutil import exec_in  # noqa: E402

IMAGE = "berth/python:3.11"
BLOB = "/opt/berth/venv/blob"
RAW_REPO = "berth/bench-commit"


def fill(mb: int) -> str:
    return f"dd if=/dev/urandom of={BLOB} bs=1M count={mb} status=none && sync"


def berth_once(owner: Client, mb: int) -> float:
    [s] = owner.create_session(image=IMAGE, resources={"cpu": 1, "mem": "1g"})
    s = wait_status(owner, s["id"], "RUNNING", timeout=120)
    try:
        exec_in(s["kernels"][0]["container_id"], "sh", "-c", fill(mb))
        started = time.perf_counter()
        task = owner.commit_session(s["id"], f"bench-{secrets.token_hex(3)}")
        done = owner.wait_commit(task["id"], interval=0.05)
        elapsed = time.perf_counter() - started
        if done["status"] != "done":
            raise RuntimeError(f"the commit failed: {done['reason']}")
        wait_status_listed = time.monotonic() + 30
        while time.monotonic() < wait_status_listed and not owner.customized_images():
            time.sleep(0.2)
        for image in owner.customized_images():
            owner.remove_customized_image(image["ref"])
        return elapsed
    finally:
        owner.terminate_session(s["id"], force=True)


async def raw_once(mb: int) -> float:
    docker = aiodocker.Docker()
    tag = secrets.token_hex(4)
    container = await docker.containers.create({
        "Image": IMAGE, "Cmd": ["sleep", "infinity"], "User": "1000:1000",
        "Labels": {"berth.benchmark": "commit"}, "HostConfig": {"Init": True}})
    try:
        await container.start()
        execution = await container.exec(["sh", "-c", fill(mb)], user="1000:1000")
        async with execution.start(detach=False) as stream:
            while await stream.read_out() is not None:
                pass
        started = time.perf_counter()
        await container.commit(repository=RAW_REPO, tag=tag)
        return time.perf_counter() - started
    finally:
        await container.delete(force=True)
        try:
            await docker.images.delete(f"{RAW_REPO}:{tag}", force=True)
        finally:
            await docker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cluster = Cluster(db="sqlite").start()
    berth_times: list[float] = []
    raw_times: list[float] = []
    try:
        owner = cluster.user()
        for run in range(args.runs):
            order = ["berth", "raw"] if run % 2 == 0 else ["raw", "berth"]
            for which in order:
                if which == "berth":
                    berth_times.append(berth_once(owner, args.mb))
                    print(f"run {run + 1}: berth commit {berth_times[-1]:.2f} s", flush=True)
                else:
                    raw_times.append(run_async(raw_once(args.mb)))
                    print(f"run {run + 1}: raw engine commit {raw_times[-1]:.2f} s",
                          flush=True)
    finally:
        cluster.close()
    b, r = statistics.median(berth_times), statistics.median(raw_times)
    print(f"\ncommit of a session that added {args.mb} MB ({args.runs} run(s), medians): "
          f"berth {b:.2f} s, raw engine {r:.2f} s, ratio {b / r:.2f}x")


if __name__ == "__main__":
    main()
