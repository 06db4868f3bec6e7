"""Launch overhead of Berth over a raw Docker Engine run of the same image.

    uv run python benchmarks/bench_sessions.py [--runs N] [--warmup W] [--heartbeat S]

Starts its own Berth (manager + agent subprocesses on SQLite, through ``tests/cluster.py``),
then measures, interleaving Berth and baseline repetitions (the order rotates every
repetition) so that noise on a shared machine hits both alike:

(a) interactive start: from the SDK's create request until the RUNNING event arrives on an
    event stream opened beforehand, vs. a raw engine create + start of the same container;
(b) batch ``true`` end to end: from the create request until the TERMINATED event, vs. raw
    engine create + start + wait + remove.

A third variant of each baseline also publishes the image's app ports on 127.0.0.1 as Berth
does, to tell the engine's port-publishing cost apart from Berth's own. Each Berth run's
status history is kept as a per-phase breakdown. Results go to the terminal (medians, min,
max, ratios) and to ``benchmarks/results/<timestamp>.json``. Every container it creates is
removed, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import aiodocker  # noqa: E402

from berth.client import ENDED, AsyncClient  # noqa: E402
from cluster import Cluster  # noqa: E402

IMAGE = "berth/python:3.11"
CPU, MEM, SHMEM = 1, 2**30, 64 * 2**20
RESOURCES = {"cpu": CPU, "mem": "1g", "shmem": "64m"}
TARGET = 1.5
#: Label on every baseline container, so that clean-up finds them all.
BENCH_LABEL = "berth.benchmark"
#: Berth history phases in the order a session goes through them.
START_PHASES = ["PENDING", "SCHEDULED", "PREPARING", "CREATING", "RUNNING"]
END_PHASES = ["TERMINATING", "TERMINATED"]


# ---- the Berth side ----------------------------------------------------------------------
class Anomaly(RuntimeError):
    """A Berth run that did not go the normal way (e.g. a session that never was RUNNING).
    It is recorded in the results and the repetition is run again."""


class EventWatch:
    """One server-sent event subscription, open before any session is created, recording
    when (``perf_counter``) this process first received each status of each session."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: dict[str, dict[str, float]] = {}
        self.cond = asyncio.Condition()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _read(self) -> None:
        async with self.client.http.stream("GET", "/api/events", timeout=None) as r:
            r.raise_for_status()
            kind = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready":
                        self.ready.set()
                elif line.startswith("data:") and kind == "session.status":
                    now = time.perf_counter()
                    event = json.loads(line[5:])
                    async with self.cond:
                        self.seen.setdefault(event["session_id"], {}).setdefault(
                            event["status"], now
                        )
                        self.cond.notify_all()

    async def wait(self, session_id: str, status: str, limit: float = 120) -> float:
        """The receive time of ``status``; raises if the session ended in another way."""

        def reached() -> bool:
            got = self.seen.get(session_id, {})
            return status in got or bool(ENDED & got.keys())

        async with self.cond:
            await asyncio.wait_for(self.cond.wait_for(reached), limit)
        got = self.seen[session_id]
        if status not in got:
            detail = await self.client.get_session(session_id)
            story = [(h["status"], h["status_info"], h["status_data"]) for h in detail["history"]]
            raise Anomaly(f"session {session_id} ended before {status}: {story}")
        return got[status]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


class EngineWatch:
    """The engine's own event stream: when (daemon clock, ns) each container was created,
    started, died and destroyed. Tells engine time apart from Berth's time in every run."""

    ACTIONS = ("create", "start", "die", "destroy")

    def __init__(self) -> None:
        self.docker = aiodocker.Docker()
        self.marks: dict[str, dict[str, int]] = {}
        self.cond = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        filters = json.dumps({"type": ["container"], "event": list(self.ACTIONS)})
        subscriber = self.docker.events.subscribe(filters=filters)
        self.task = asyncio.create_task(self._read(subscriber))
        await asyncio.sleep(0.5)  # the engine sends nothing to say the stream is open

    async def _read(self, subscriber: Any) -> None:
        while (event := await subscriber.get()) is not None:
            container_id = (event.get("Actor") or {}).get("ID") or event.get("id")
            action = str(event.get("Action") or event.get("status"))
            async with self.cond:
                self.marks.setdefault(container_id, {}).setdefault(action, event["timeNano"])
                self.cond.notify_all()

    async def since(
        self, container_id: str | None, t0_ns: int, actions: tuple[str, ...]
    ) -> dict[str, float]:
        """Seconds from ``t0_ns`` (wall clock) to each of ``actions`` of the container;
        actions whose event did not arrive within 5 s are left out."""
        if not container_id:
            return {}

        def arrived() -> bool:
            return all(a in self.marks.get(container_id, {}) for a in actions)

        with contextlib.suppress(TimeoutError):
            async with self.cond:
                await asyncio.wait_for(self.cond.wait_for(arrived), 5)
        got = self.marks.get(container_id, {})
        return {a: (got[a] - t0_ns) / 1e9 for a in actions if a in got}

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.docker.events.stop()
        await self.docker.close()


def _phases(
    history: list[dict[str, Any]], t_request: datetime, statuses: list[str]
) -> dict[str, float]:
    """Seconds spent reaching each status, from the manager's status history (the first
    entry of each status; PENDING is measured from the client's request time)."""
    first: dict[str, datetime] = {}
    for entry in history:
        first.setdefault(entry["status"], datetime.fromisoformat(entry["at"]))
    out: dict[str, float] = {}
    previous = t_request
    for status in statuses:
        if status in first:
            out[status] = (first[status] - previous).total_seconds()
            previous = first[status]
    return out


def _container_of(detail: dict[str, Any]) -> str | None:
    kernels = detail.get("kernels") or []
    return kernels[0]["container_id"] if kernels else None


async def berth_interactive(c: AsyncClient, watch: EventWatch, eng: EngineWatch) -> dict[str, Any]:
    wall = datetime.now(UTC)
    t0_ns = time.time_ns()
    t0 = time.perf_counter()
    [s] = await c.create_session(type="interactive", image=IMAGE, resources=RESOURCES)
    t_api = time.perf_counter()
    t_running = await watch.wait(s["id"], "RUNNING")
    # Not timed: terminate and wait until it is gone, so the next run starts from a clean node.
    detail = await c.get_session(s["id"])
    await c.terminate_session(s["id"])
    await watch.wait(s["id"], "TERMINATED")
    phases = _phases(detail["history"], wall, START_PHASES)
    return {
        "seconds": t_running - t0,
        "api_seconds": t_api - t0,
        "phases": phases,
        "event_lag": (t_running - t0) - sum(phases.values()),
        "engine": await eng.since(_container_of(detail), t0_ns, ("create", "start")),
    }


async def berth_batch(c: AsyncClient, watch: EventWatch, eng: EngineWatch) -> dict[str, Any]:
    wall = datetime.now(UTC)
    t0_ns = time.time_ns()
    t0 = time.perf_counter()
    [s] = await c.create_session(
        type="batch", image=IMAGE, resources=RESOURCES, startup_command="true"
    )
    t_api = time.perf_counter()
    t_end = await watch.wait(s["id"], "TERMINATED")
    detail = await c.get_session(s["id"])
    story = [(h["status"], h["status_info"]) for h in detail["history"]]
    if detail["result"] != "SUCCESS" or not any(h[0] == "RUNNING" for h in story):
        raise Anomaly(f"batch session {s['id']} ended {detail['result']} via {story}")
    phases = _phases(detail["history"], wall, [*START_PHASES, *END_PHASES])
    return {
        "seconds": t_end - t0,
        "api_seconds": t_api - t0,
        "phases": phases,
        "event_lag": (t_end - t0) - sum(phases.values()),
        "engine": await eng.since(_container_of(detail), t0_ns, EngineWatch.ACTIONS),
    }


# ---- the baseline: the same container straight through the engine -------------------------
class Baseline:
    def __init__(self, docker: aiodocker.Docker, eng: EngineWatch, run_id: str) -> None:
        self.docker = docker
        self.eng = eng
        self.run_id = run_id
        self.app_ports: list[int] = []

    def config(self, cmd: list[str], scratch: str, publish: bool) -> dict[str, Any]:
        """What Berth's agent asks the engine for (see agent/backends/docker.py), minus
        its labels and environment; ``publish`` adds its loopback port bindings."""
        ports = self.app_ports if publish else []
        return {
            "Image": IMAGE,
            "Cmd": cmd,
            "User": "1000:1000",
            "WorkingDir": "/home/work",
            "Labels": {BENCH_LABEL: self.run_id},
            "ExposedPorts": {f"{p}/tcp": {} for p in ports},
            "HostConfig": {
                "NanoCpus": int(CPU * 1e9),
                "Memory": MEM,
                "MemorySwap": MEM,
                "ShmSize": SHMEM,
                "PidsLimit": 4096,
                "SecurityOpt": ["no-new-privileges"],
                "CapDrop": ["ALL"],
                "Init": True,
                "Binds": [f"{scratch}:/home/work"],
                "PortBindings": {
                    f"{p}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for p in ports
                },
                "RestartPolicy": {"Name": "no"},
            },
        }

    @staticmethod
    def _scratch() -> str:
        path = tempfile.mkdtemp(prefix="berth-bench-home-")
        os.chown(path, 1000, 1000)
        return path

    async def interactive(self, publish: bool = False) -> dict[str, Any]:
        scratch = self._scratch()
        config = self.config(["sleep", "infinity"], scratch, publish)
        try:
            t0_ns = time.time_ns()
            t0 = time.perf_counter()
            container = await self.docker.containers.create(config)
            await container.start()
            seconds = time.perf_counter() - t0
            await container.delete(force=True, v=True)  # not timed
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        engine = await self.eng.since(container.id, t0_ns, ("create", "start"))
        return {"seconds": seconds, "engine": engine}

    async def batch(self, publish: bool = False) -> dict[str, Any]:
        scratch = self._scratch()
        config = self.config(["/bin/sh", "-c", "true"], scratch, publish)
        try:
            t0_ns = time.time_ns()
            t0 = time.perf_counter()
            container = await self.docker.containers.create(config)
            await container.start()
            result = await container.wait()
            await container.delete(force=True, v=True)
            seconds = time.perf_counter() - t0
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if result.get("StatusCode") != 0:
            raise RuntimeError(f"baseline batch exited with {result}")
        engine = await self.eng.since(container.id, t0_ns, EngineWatch.ACTIONS)
        return {"seconds": seconds, "engine": engine}

    async def remove_all(self) -> int:
        found = await self.docker.containers.list(
            all=True, filters={"label": [f"{BENCH_LABEL}={self.run_id}"]}
        )
        for container in found:
            with contextlib.suppress(aiodocker.DockerError):
                await container.delete(force=True, v=True)
        return len(found)


# ---- running and reporting ---------------------------------------------------------------
Case = Callable[[], Awaitable[dict[str, Any]]]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


async def measure(
    name: str, cases: dict[str, Case], runs: int, warmup: int, anomalies: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Run every case ``warmup + runs`` times, rotating the order each repetition. A run
    that raises :class:`Anomaly` is recorded in ``anomalies`` and repeated (at most
    ``runs`` anomalies in all, then the benchmark gives up)."""
    order = list(cases)
    samples: dict[str, list[dict[str, Any]]] = {k: [] for k in order}
    for i in range(warmup + runs):
        shift = i % len(order)
        for key in order[shift:] + order[:shift]:
            while True:
                try:
                    sample = await cases[key]()
                    break
                except Anomaly as e:
                    anomalies.append(f"{name}/{key}: {e}")
                    print(f"  ANOMALY (run repeated): {e}", flush=True)
                    if len(anomalies) > runs:
                        raise
            if i >= warmup:
                samples[key].append(sample)
        label = "warm-up" if i < warmup else f"run {i - warmup + 1}/{runs}"
        shown = "  ".join(f"{k}={samples[k][-1]['seconds']:.3f}s" for k in order if i >= warmup)
        print(f"  {name} {label} {shown}", flush=True)
    return samples


def phase_medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in [*START_PHASES, *END_PHASES] if all(k in s["phases"] for s in samples)]
    out = {k: statistics.median(s["phases"][k] for s in samples) for k in keys}
    out["event delivery"] = statistics.median(s["event_lag"] for s in samples)
    return out


#: Segments between the engine's events (and the client's request and finish).
SEGMENTS = {
    "interactive_start": [
        ("request -> container created", None, "create"),
        ("created -> started (engine)", "create", "start"),
        ("started -> seen running by client", "start", None),
    ],
    "batch_true": [
        ("request -> container created", None, "create"),
        ("created -> started (engine)", "create", "start"),
        ("started -> died (true runs)", "start", "die"),
        ("died -> destroyed", "die", "destroy"),
        ("destroyed -> seen ended by client", "destroy", None),
    ],
}


def engine_segments(bench: str, samples: list[dict[str, Any]]) -> dict[str, float]:
    """Median seconds of each segment over the samples whose engine events all arrived."""
    out: dict[str, float] = {}
    for label, start, end in SEGMENTS[bench]:
        values = []
        for sample in samples:
            marks = {None: 0.0, **sample.get("engine", {})}
            if start in marks and (end is None or end in marks):
                stop = sample["seconds"] if end is None else marks[end]
                values.append(stop - marks[start])
        if values:
            out[label] = statistics.median(values)
    return out


PHASE_LABELS = {
    "PENDING": "request -> PENDING   (API: auth, validation, insert)",
    "SCHEDULED": "PENDING -> SCHEDULED (scheduler pass)",
    "PREPARING": "SCHEDULED -> PREPARING (dispatch transaction)",
    "CREATING": "PREPARING -> CREATING (agent RPC 202 / started)",
    "RUNNING": "CREATING -> RUNNING  (engine create+start, event)",
    "TERMINATING": "RUNNING -> TERMINATING (exit seen, exited event)",
    "TERMINATED": "TERMINATING -> TERMINATED (stop, logs, remove)",
    "event delivery": "last status -> SSE received by client",
}


def report(results: dict[str, Any]) -> None:
    print()
    print(f"{'measure':<34}{'median':>9}{'min':>9}{'max':>9}   (seconds, n={results['runs']})")
    for bench in ("interactive_start", "batch_true"):
        for key, stats in results[bench]["stats"].items():
            print(
                f"{bench + ' / ' + key:<34}"
                f"{stats['median']:>9.3f}{stats['min']:>9.3f}{stats['max']:>9.3f}"
            )
    print()
    for bench in ("interactive_start", "batch_true"):
        ratios = results[bench]["ratios"]
        ok = "OK" if ratios["berth/baseline"] <= TARGET else "ABOVE TARGET"
        print(
            f"{bench}: Berth/baseline = {ratios['berth/baseline']:.2f}x "
            f"(target <= {TARGET}x: {ok}); "
            f"Berth/baseline-with-ports = {ratios['berth/baseline_ports']:.2f}x"
        )
    for anomaly in results["anomalies"]:
        print(f"ANOMALY (repeated, not in the numbers): {anomaly}")
    for bench in ("interactive_start", "batch_true"):
        print(f"\n{bench}: medians per segment, from the engine's events (ms)")
        segs = results[bench]["engine_segments"]
        print(f"  {'segment':<36}{'berth':>9}{'baseline':>10}{'b+ports':>10}{'berth-b+p':>11}")
        for label in segs["berth"]:
            row = [segs[k].get(label, float("nan")) * 1000 for k in segs]
            cells = "".join(f"{v:>10.1f}" for v in row)
            print(f"  {label:<36}{cells}{row[0] - row[2]:>11.1f}")
        print(f"\n{bench}: Berth's status history, medians (ms)")
        for key, value in results[bench]["berth_phases"].items():
            print(f"  {PHASE_LABELS.get(key, key):<52}{value * 1000:>8.1f}")


async def run(cluster: Cluster, runs: int, warmup: int) -> dict[str, Any]:
    token = str(cluster.admin.http.headers["Authorization"]).removeprefix("Bearer ")
    docker = aiodocker.Docker()
    client = AsyncClient(endpoint=cluster.url, api_key=token)
    watch = EventWatch(client)
    eng = EngineWatch()
    baseline = Baseline(docker, eng, secrets.token_hex(4))
    try:
        image = await docker.images.inspect(IMAGE)
        apps = (image.get("Config") or {}).get("Labels", {}).get("berth.apps", "")
        baseline.app_ports = [
            int(item.split(":")[2])
            for item in apps.split(",")
            if item and item.split(":")[1] in ("http", "tcp")
        ]
        await watch.start()
        await eng.start()
        results: dict[str, Any] = {"runs": runs, "warmup": warmup, "anomalies": []}
        benches: dict[str, dict[str, Case]] = {
            "interactive_start": {
                "berth": lambda: berth_interactive(client, watch, eng),
                "baseline": lambda: baseline.interactive(),
                "baseline_ports": lambda: baseline.interactive(publish=True),
            },
            "batch_true": {
                "berth": lambda: berth_batch(client, watch, eng),
                "baseline": lambda: baseline.batch(),
                "baseline_ports": lambda: baseline.batch(publish=True),
            },
        }
        for bench, cases in benches.items():
            print(f"{bench}:", flush=True)
            samples = await measure(bench, cases, runs, warmup, results["anomalies"])
            stats = {k: summary([s["seconds"] for s in v]) for k, v in samples.items()}
            results[bench] = {
                "samples": samples,
                "stats": stats,
                "ratios": {
                    "berth/baseline": stats["berth"]["median"] / stats["baseline"]["median"],
                    "berth/baseline_ports": stats["berth"]["median"]
                    / stats["baseline_ports"]["median"],
                },
                "berth_phases": phase_medians(samples["berth"]),
                "engine_segments": {k: engine_segments(bench, v) for k, v in samples.items()},
                "berth_api_seconds_median": statistics.median(
                    s["api_seconds"] for s in samples["berth"]
                ),
            }
        return results
    finally:
        await watch.close()
        await eng.close()
        await client.http.aclose()
        removed = await baseline.remove_all()
        if removed:
            print(f"(removed {removed} leftover baseline container(s))")
        await docker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured repetitions (>= 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured repetitions first")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=5.0,
        help="agent heartbeat interval in s (default: the product's default, 5; the test "
        "harness uses 1)",
    )
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5 for a meaningful median")
    started = datetime.now(UTC)
    print("Starting a Berth cluster (SQLite) ... ", end="", flush=True)
    # The product's defaults rather than the test harness's fast loops, so that the measure
    # is what a user gets (the scheduler is woken by each create; it does not poll).
    cluster = Cluster(
        db="sqlite",
        agent_env={"BERTH_AGENT_HEARTBEAT_INTERVAL": str(args.heartbeat)},
        manager_env={"BERTH_SCHEDULE_INTERVAL": "2.0", "BERTH_HEARTBEAT_TIMEOUT": "30"},
    ).start()
    print(f"up at {cluster.url}", flush=True)
    out_dir = ROOT / "benchmarks" / "results"
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    try:
        results = asyncio.run(run(cluster, args.runs, args.warmup))
    except BaseException:
        out_dir.mkdir(parents=True, exist_ok=True)
        for what in ("manager", "agent"):  # keep the logs of a failed run for diagnosis
            shutil.copy(cluster.root / f"{what}.log", out_dir / f"{stamp}-{what}.log")
        print(f"Failed; the cluster's logs are in benchmarks/results/{stamp}-*.log")
        raise
    finally:
        cluster.close()  # ends its sessions and removes the agent's containers
    results["meta"] = {
        "started": started.isoformat(),
        "image": IMAGE,
        "resources": RESOURCES,
        "target_ratio": TARGET,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "agent_heartbeat_interval": args.heartbeat,
    }
    report(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
