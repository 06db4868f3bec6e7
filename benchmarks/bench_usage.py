"""Cost of sampling live usage: Berth's cgroup reader against the engine's stats API.

    uv run python benchmarks/bench_usage.py [--kernels 50] [--rounds 6] [--interval 5]
                                            [--engine-concurrency 50]

Starts ``--kernels`` idle containers (``sleep infinity`` in ``berth/python:3.11``, with the
limits and options a kernel gets), then for ``--rounds`` rounds samples all of them once
with each of:

* ``berth_thread``: :meth:`UsageTracker.sample_all` reading in a worker thread (default);
* ``berth_loop``: the same reading on the event loop;
* ``engine_stats``: ``GET /containers/{id}/stats?stream=false`` for every container
  (aiodocker's ``container.stats(stream=False)``), all at once (``--engine-concurrency``);
* ``engine_one_shot``: the same with ``one-shot=1`` (no second reading for ``precpu``);
* ``berth_report``: the agent's whole round as the usage loop runs it
  (:meth:`berth.agent.usage_loop.UsageLoop.round`: the tracker's round, the report built and
  serialized to JSON; only the HTTP post to the manager is left out).

The order of the variants rotates every round. For each it measures this process's CPU time
(all its threads: ``time.process_time``) — the agent's own cost — and the CPU time of the
engine's processes (dockerd, containerd and every containerd-shim, from /proc/<pid>/stat)
from the start of the calls until 0.5 s after they returned, minus the engine's idle CPU over
that window (measured for 5 s before the rounds). The sampling interval is compressed (the
rounds run back to back) since CPU time, not wall time, is measured; CPU % of one core is the
CPU time of one round divided by ``--interval``. One unmeasured round first; Berth's part of
it is the first sample of each kernel (an inspect each) and is reported on its own.

Prints every round, the medians, the ratios engine/Berth and a headline: the agent's CPU %
of one core for sampling the kernels every ``--interval`` s with Berth's reader against the
engine's stats API, measured in the same run, and their ratio. Writes
``benchmarks/results/usage-<timestamp>.json``. Every container is removed at the end, also
on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiodocker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from berth.agent.usage import CgroupReader, UsageTracker, docker_inspector  # noqa: E402
from berth.agent.usage_loop import UsageLoop  # noqa: E402
from berth.rpc import UsageReply, UsageReport  # noqa: E402

IMAGE = "berth/python:3.11"
BENCH_LABEL = "berth.bench"
ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim")
TAIL = 0.5  # s after the calls in which the engine's CPU still counts
CLK_TCK = os.sysconf("SC_CLK_TCK")
VARIANTS = ("berth_thread", "berth_loop", "engine_stats", "engine_one_shot", "berth_report")


# ---- the engine's CPU -----------------------------------------------------------------------

def engine_pids() -> list[int]:
    """The engine's processes now (containerd-shim's name is cut to 15 characters)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm in ENGINE_PROCESSES or comm.startswith("containerd-shim"):
            pids.append(int(entry))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (those still alive), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / CLK_TCK


# ---- containers -----------------------------------------------------------------------------

class Kernels:
    def __init__(self, docker: aiodocker.Docker, run_id: str) -> None:
        self.docker = docker
        self.run_id = run_id
        self.ids: list[str] = []

    async def start(self, count: int, concurrency: int = 8) -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with slots:
                container = await self.docker.containers.create({
                    "Image": IMAGE, "Cmd": ["sleep", "infinity"], "User": "1000:1000",
                    "Labels": {BENCH_LABEL: self.run_id},
                    "HostConfig": {"NanoCpus": 10**9, "Memory": 256 * 2**20,
                                   "MemorySwap": 256 * 2**20, "PidsLimit": 4096, "Init": True,
                                   "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"]}},
                    name=f"berth-bench-usage-{self.run_id}-{i}")
                await container.start()
                return str(container.id)

        self.ids = list(await asyncio.gather(*(one(i) for i in range(count))))


async def remove_all(run_id: str) -> int:
    docker = aiodocker.Docker()
    try:
        found = await docker.containers.list(
            all=True, filters={"label": [f"{BENCH_LABEL}={run_id}"]})
        await asyncio.gather(*(c.delete(force=True) for c in found), return_exceptions=True)
        return len(found)
    finally:
        await docker.close()


# ---- the four ways of sampling ---------------------------------------------------------------

async def engine_round(docker: aiodocker.Docker, ids: list[str], one_shot: bool,
                       concurrency: int) -> list[dict[str, Any]]:
    slots = asyncio.Semaphore(concurrency)

    async def one(cid: str) -> dict[str, Any]:
        async with slots:
            if one_shot:
                # aiodocker has no one-shot flag; the same request through its JSON helper.
                data: dict[str, Any] = await docker._query_json(
                    f"containers/{cid}/stats", params={"stream": "0", "one-shot": "1"})
                return data
            result = await docker.containers.container(cid).stats(stream=False)
            return dict(result[0])

    return list(await asyncio.gather(*(one(cid) for cid in ids)))


async def measure(call: Callable[[], Awaitable[Any]], pids: list[int],
                  engine_idle_per_s: float) -> tuple[dict[str, float], Any]:
    engine_before = cpu_seconds(pids)
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    result = await call()
    cpu1 = time.process_time()
    wall1 = time.perf_counter()
    await asyncio.sleep(TAIL)
    window = time.perf_counter() - wall0
    engine = cpu_seconds(pids) - engine_before
    figures = {
        "wall_s": wall1 - wall0,
        "agent_cpu_s": cpu1 - cpu0,
        "engine_cpu_raw_s": engine,
        "engine_cpu_s": max(0.0, engine - engine_idle_per_s * window),
    }
    figures["total_cpu_s"] = figures["agent_cpu_s"] + figures["engine_cpu_s"]
    return figures, result


def median_of(rounds: list[dict[str, dict[str, float]]], variant: str, key: str) -> float:
    return statistics.median(r[variant][key] for r in rounds)


async def run(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    docker = aiodocker.Docker()
    kernels = Kernels(docker, run_id)
    trackers = {
        "berth_thread": UsageTracker(docker_inspector(docker), CgroupReader.for_host(),
                                     in_thread=True),
        "berth_loop": UsageTracker(docker_inspector(docker), CgroupReader.for_host(),
                                   in_thread=False),
        "berth_report": UsageTracker(docker_inspector(docker), CgroupReader.for_host(),
                                     in_thread=True),
    }
    sent_bytes: list[int] = []

    async def serialize(report: UsageReport) -> UsageReply:
        sent_bytes.append(len(report.model_dump_json(exclude_none=True)))
        return UsageReply()
    try:
        print(f"Starting {args.kernels} idle containers ... ", end="", flush=True)
        t0 = time.perf_counter()
        await kernels.start(args.kernels)
        print(f"{time.perf_counter() - t0:.1f} s", flush=True)
        by_kernel = {f"k{i}": cid for i, cid in enumerate(kernels.ids)}
        agent_loop = UsageLoop("bench", trackers["berth_report"], lambda: by_kernel, serialize,
                               args.interval)
        pids = engine_pids()
        print(f"Engine processes watched: {len(pids)}; measuring the engine's idle CPU "
              f"for {args.quiet:.0f} s ... ", end="", flush=True)
        before = cpu_seconds(pids)
        await asyncio.sleep(args.quiet)
        idle_per_s = (cpu_seconds(pids) - before) / args.quiet
        print(f"{idle_per_s * 100:.2f} % of a core", flush=True)

        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "berth_thread": lambda: trackers["berth_thread"].sample_all(by_kernel),
            "berth_loop": lambda: trackers["berth_loop"].sample_all(by_kernel),
            "engine_stats": lambda: engine_round(docker, kernels.ids, False,
                                                 args.engine_concurrency),
            "engine_one_shot": lambda: engine_round(docker, kernels.ids, True,
                                                    args.engine_concurrency),
            "berth_report": agent_loop.round,
        }
        rounds: list[dict[str, dict[str, float]]] = []
        first: dict[str, dict[str, float]] = {}
        last_results: dict[str, Any] = {}
        for r in range(args.rounds + 1):
            turn = r % len(VARIANTS)
            order = VARIANTS[turn:] + VARIANTS[:turn]
            this: dict[str, dict[str, float]] = {}
            for variant in order:
                this[variant], last_results[variant] = await measure(
                    calls[variant], pids, idle_per_s)
            if r == 0:
                first = this
                label = "warm-up"
            else:
                rounds.append(this)
                label = f"round {r}/{args.rounds}"
            cells = "  ".join(
                f"{v} {this[v]['agent_cpu_s'] * 1000:6.1f}+{this[v]['engine_cpu_s'] * 1000:6.1f}"
                for v in VARIANTS)
            print(f"  {label:<12} CPU ms (agent+engine): {cells}", flush=True)

        summary: dict[str, dict[str, float]] = {}
        for v in VARIANTS:
            summary[v] = {key: median_of(rounds, v, key) for key in rounds[0][v]}
            for key in ("agent_cpu_s", "engine_cpu_s", "total_cpu_s"):
                summary[v][key.removesuffix("_s") + "_percent_of_core"] = (
                    summary[v][key] / args.interval * 100)
        ratios = {
            f"{engine}/{berth}": {
                what: (summary[engine][what] / summary[berth][what]
                       if summary[berth][what] else None)
                for what in ("agent_cpu_s", "total_cpu_s")}
            for engine in ("engine_stats", "engine_one_shot")
            for berth in ("berth_thread", "berth_report")}
        return {
            "report_bytes": statistics.median(sent_bytes[1:] or sent_bytes),
            "kernels": args.kernels, "rounds": args.rounds, "interval_s": args.interval,
            "engine_idle_cpu_per_s": idle_per_s, "engine_processes": len(pids),
            "first_sample": {v: first[v] for v in ("berth_thread", "berth_loop")},
            "samples": rounds, "medians": summary, "ratios": ratios,
            "engine_version": await docker.version(),
            "check": cross_check(last_results["berth_thread"], last_results["engine_stats"],
                                 by_kernel),
        }
    finally:
        for tracker in trackers.values():
            tracker.close()
        await docker.close()


def cross_check(berth: dict[str, Any], engine: list[dict[str, Any]],
                by_kernel: dict[str, str]) -> dict[str, float]:
    """Both sides see the same containers: memory (the engine's ``usage``) and CPU agree."""
    engine_mem = {s["id"]: s["memory_stats"].get("usage", 0) for s in engine}
    diffs = [abs(berth[k].mem_bytes - engine_mem[cid]) for k, cid in by_kernel.items()
             if berth[k].mem_bytes is not None and cid in engine_mem]
    cpus = [berth[k].cpu_percent for k in by_kernel if berth[k].cpu_percent is not None]
    return {"memory_median_abs_diff_bytes": statistics.median(diffs) if diffs else -1.0,
            "memory_compared": len(diffs), "berth_cpu_percent_max": max(cpus, default=-1.0)}


def report(results: dict[str, Any]) -> None:
    interval = results["interval_s"]
    print(f"\nSampling {results['kernels']} idle kernels, medians of {results['rounds']} rounds "
          f"(CPU % of one core at one round every {interval:g} s):")
    print(f"  {'':<17}{'wall ms':>9}{'agent ms':>10}{'engine ms':>11}{'total ms':>10}"
          f"{'agent %':>9}{'total %':>9}")
    for v, m in results["medians"].items():
        print(f"  {v:<17}{m['wall_s'] * 1000:>9.1f}{m['agent_cpu_s'] * 1000:>10.2f}"
              f"{m['engine_cpu_s'] * 1000:>11.1f}{m['total_cpu_s'] * 1000:>10.1f}"
              f"{m['agent_cpu_percent_of_core']:>9.3f}{m['total_cpu_percent_of_core']:>9.3f}")
    for name, ratio in results["ratios"].items():
        shown = ", ".join(f"{k.removesuffix('_cpu_s')} {v:.0f}x" if v else f"{k} n/a"
                          for k, v in ratio.items())
        print(f"  ratio {name}: {shown}")
    first = results["first_sample"]["berth_thread"]
    print(f"  Berth's first sample (an inspect per kernel): {first['wall_s'] * 1000:.0f} ms "
          f"wall, {first['agent_cpu_s'] * 1000:.1f} ms agent CPU, "
          f"{first['engine_cpu_s'] * 1000:.0f} ms engine CPU")
    m = results["medians"]
    berth, engine = m["berth_report"], m["engine_stats"]
    print(f"\nAgent CPU for {results['kernels']} running kernels sampled every {interval:g} s "
          f"(same run): Berth's reader, whole round with the report "
          f"({results['report_bytes']:.0f} bytes of JSON) "
          f"{berth['agent_cpu_percent_of_core']:.3f} % of one core (reading alone "
          f"{m['berth_thread']['agent_cpu_percent_of_core']:.3f} %); the engine's stats API "
          f"{engine['agent_cpu_percent_of_core']:.3f} % in the agent + "
          f"{engine['engine_cpu_s'] / interval * 100:.3f} % in the engine. Ratio engine/Berth: "
          f"agent {engine['agent_cpu_s'] / berth['agent_cpu_s']:.1f}x, agent+engine "
          f"{engine['total_cpu_s'] / berth['total_cpu_s']:.1f}x")
    check = results["check"]
    print(f"  Cross-check: memory Berth vs engine, median |diff| "
          f"{check['memory_median_abs_diff_bytes']:.0f} bytes over {check['memory_compared']} "
          f"kernels; highest CPU % Berth saw on an idle kernel "
          f"{check['berth_cpu_percent_max']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=50, help="idle containers to sample")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds (>= 3)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="the product's sampling interval in s, for CPU %% of a core")
    parser.add_argument("--engine-concurrency", type=int, default=50,
                        help="stats requests in flight at once")
    parser.add_argument("--quiet", type=float, default=5.0,
                        help="seconds over which the engine's idle CPU is measured")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 for a median")
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        results = asyncio.run(run(args, run_id))
    finally:
        removed = asyncio.run(remove_all(run_id))
        print(f"(removed {removed} container(s))")
    describe = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    results["meta"] = {
        "started": started.isoformat(), "code": describe, "image": IMAGE,
        "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average": os.getloadavg(), "cgroup": repr(CgroupReader.for_host().layout),
        "engine": results.pop("engine_version"),
    }
    report(results)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"usage-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
