"""Where the manager's CPU goes while it creates, places, hands over and starts sessions.

    uv run python benchmarks/profile_create.py [--db sqlite] [--sessions 2000]
                                               [--running 1500] [--clients 16] [--py-spy]

A smaller, quicker ``bench_scale.py`` burst (about a minute): its own Berth through
``tests/cluster.py`` (a manager and one FakeBackend agent with room for ``--running``
sessions, the product's loop settings), ``--sessions`` ``POST /api/sessions`` (one session
each, ``--clients`` at once), then a wait until ``--running`` are RUNNING. It prints the
manager's CPU time (``/proc/<pid>/stat``: less sensitive than wall time to a shared machine)

- during the burst, per create (the figure ``bench_scale.py`` prints), and
- over the whole lifecycle (burst start until ``--running`` RUNNING), per session started,

plus creates/s and the agent's CPU. ``--py-spy`` records the manager with py-spy over the
whole lifecycle (``uv pip install py-spy``; needs ptrace) and prints the functions with the
most samples, own and cumulative; the collapsed stacks are kept in
``benchmarks/results/profile-<timestamp>-<db>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from berth.agent.backends.fake import FAKE_IMAGE  # noqa: E402
from cluster import Cluster, wait_for  # noqa: E402

MEM = 256 * 2**20
RESOURCES = {"cpu": 1, "mem": "256m", "shmem": "1m"}


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def top(collapsed: Path, n: int = 40) -> None:
    """Own and cumulative samples per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    total = 0
    for raw in collapsed.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")").split(":")[0]
                  for f in stack.split(";")]
        if frames:
            own[frames[-1]] += k
        for f in set(frames):
            cum[f] += k
    print(f"\n{total} samples; own (top {n}):")
    for f, k in own.most_common(n):
        print(f"  {100 * k / total:5.1f}%  {f}")
    print(f"\ncumulative (top {2 * n}):")
    for f, k in cum.most_common(2 * n):
        print(f"  {100 * k / total:5.1f}%  {f}")


async def burst(cluster: Cluster, token: str, n: int, clients: int) -> tuple[float, int]:
    body = {"image": FAKE_IMAGE, "type": "interactive", "resources": RESOURCES}
    todo = iter(range(n))
    failures: list[str] = []

    async def worker(c: httpx.AsyncClient) -> None:
        for _ in todo:
            r = await c.post("/api/sessions", json=body)
            if r.status_code != 201:
                failures.append(f"{r.status_code} {r.text[:200]}")

    async with httpx.AsyncClient(base_url=cluster.url, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(max_connections=clients)) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(clients)))
        took = time.perf_counter() - t0
    if failures:
        print("failures:", failures[:3])
    return took, len(failures)


def run(db: str, args: argparse.Namespace) -> None:
    cluster = Cluster(
        db=db,
        agent_env={"BERTH_AGENT_BACKEND": "fake", "BERTH_AGENT_CPU": str(args.running),
                   "BERTH_AGENT_MEM": str(args.running * MEM),
                   "BERTH_AGENT_HEARTBEAT_INTERVAL": "5"},
        manager_env={"BERTH_SCHEDULE_INTERVAL": "2", "BERTH_HEARTBEAT_TIMEOUT": "30"})
    spy: subprocess.Popen[bytes] | None = None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "benchmarks" / "results" / f"profile-{stamp}-{db}.txt"
    try:
        cluster.start()
        assert cluster.manager is not None and cluster.agent is not None
        token = cluster.admin.http.headers["Authorization"].removeprefix("Bearer ")
        mpid, apid = cluster.manager.pid, cluster.agent.pid
        if args.py_spy:
            out.parent.mkdir(parents=True, exist_ok=True)
            exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            spy = subprocess.Popen([exe, "record", "-p", str(mpid), "-f", "raw", "-r", "200",
                                    "-o", str(out), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        m0, a0, t0 = cpu_of(mpid), cpu_of(apid), time.perf_counter()
        took, failed = asyncio.run(burst(cluster, token, args.sessions, args.clients))
        m1 = cpu_of(mpid)

        def running() -> bool:
            rows = cluster.sql("SELECT count(*) FROM sessions WHERE status = 'RUNNING'")
            return int(rows[0][0]) >= args.running
        wait_for(running, 600, interval=0.5, what=f"{args.running} RUNNING")
        m2, a2, t2 = cpu_of(mpid), cpu_of(apid), time.perf_counter()
        if args.lists:
            # Only the list requests under the profiler: stop the lifecycle's recording.
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
                spy = subprocess.Popen([exe, "record", "-p", str(mpid), "-f", "raw", "-r", "200",
                                        "-o", str(out), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            l0, tl = cpu_of(mpid), time.perf_counter()
            with httpx.Client(base_url=cluster.url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                for _ in range(args.lists):
                    c.get("/api/sessions", params={"limit": 50}).raise_for_status()
            l1, tl1 = cpu_of(mpid), time.perf_counter()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        n = args.sessions
        print(f"== {db}: {n} creates, {args.clients} clients, {args.running} running ==")
        print(f"  creates/s                          {(n - failed) / took:8.1f}  ({failed} failed)")
        print(f"  manager CPU per create, burst      {1000 * (m1 - m0) / n:8.2f} ms")
        print(f"  lifecycle: {args.running} RUNNING after   {t2 - t0:8.1f} s")
        print(f"  manager CPU per started session    {1000 * (m2 - m0) / args.running:8.2f} ms")
        print(f"  agent CPU per started session      {1000 * (a2 - a0) / args.running:8.2f} ms")
        if args.lists:
            print(f"  manager CPU per list page of 50    {1000 * (l1 - l0) / args.lists:8.2f} ms"
                  f"  ({1000 * (tl1 - tl) / args.lists:.1f} ms wall)")
        print(f"  load average                       {os.getloadavg()[0]:8.1f}")
        if spy is not None and out.exists():
            top(out)
            print(f"\nstacks: {out}")
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        cluster.stop_agent()
        cluster.stop_manager()
        cluster.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default="sqlite")
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--running", type=int, default=1500)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--py-spy", action="store_true")
    p.add_argument("--lists", type=int, default=0,
                   help="then time this many GET /api/sessions?limit=50, one at a time "
                        "(with --py-spy, only they are recorded)")
    args = p.parse_args()
    for db in args.db.split(","):
        run(db, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
