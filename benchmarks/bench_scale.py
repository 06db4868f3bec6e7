"""One manager at scale: 10,000 sessions, 8,000 of them running on one agent.

    uv run python benchmarks/bench_scale.py [--db sqlite,postgres] [--sessions 10000]
                                            [--running 8000] [--clients 16] [--samples 200]

For each database it starts its own Berth through ``tests/cluster.py`` — a manager and ONE
agent on the FakeBackend (``BERTH_AGENT_BACKEND=fake``: no containers, tests only) with room
for exactly ``--running`` sessions — with the product's loop settings (heartbeat every 5 s,
scheduler every 2 s, an agent LOST after 30 s of silence), and then:

1. bursts ``--sessions`` creates (one session per request, ``--clients`` at once) and
   reports creates/s;
2. waits until ``--running`` sessions are RUNNING (the rest wait in PENDING: no room), while
   watching that the agent never leaves ALIVE;
3. watches several heartbeats with nothing changing: the agent stays ALIVE, its last
   heartbeat moves on, no session row is written; and times a heartbeat of every kernel
   where nothing changed (the same report as the agent's, posted by the benchmark);
4. times ``GET /api/sessions`` (first page, default sort) alone and with 10 clients at once;
5. restarts the manager (its memory of the heartbeats is gone: one full reconciliation),
   then the agent (the FakeBackend forgets its kernels, so the manager ends them as
   ``kernel-lost`` and starts the waiting ones): the agent is ALIVE again after each.

Every figure is printed next to its target; results go to
``benchmarks/results/scale-<timestamp>.json``. Takes about 5 minutes per database on a
2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from berth.agent.backends.fake import FAKE_IMAGE, FakeBackend  # noqa: E402
from berth.rpc import Heartbeat, KernelReport, KernelState  # noqa: E402
from cluster import Cluster, wait_for  # noqa: E402

MEM = 256 * 2**20
RESOURCES = {"cpu": 1, "mem": "256m", "shmem": "1m"}
HEARTBEAT, SCHEDULE, LOST_AFTER = 5.0, 2.0, 30.0
TARGETS = {"creates_per_s": 200, "list_p99_ms": 50, "list_p99_10_clients_ms": 200}
BEAT_RE = re.compile(r"heartbeat of agent \S+ \((full|changes)\): (\d+) kernels, (\d+) sessions "
                     r"looked at, (\d+) changed status, ([\d.]+) s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(what: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  ok" if ok else "  MISSED")
    print(f"  {what:<52} {value:>14}   {target}{mark}", flush=True)


class Bench:
    def __init__(self, db: str, args: argparse.Namespace) -> None:
        self.db = db
        self.args = args
        self.cluster = Cluster(
            db=db,
            agent_env={
                "BERTH_AGENT_BACKEND": "fake",
                "BERTH_AGENT_CPU": str(args.running),
                "BERTH_AGENT_MEM": str(args.running * MEM),
                "BERTH_AGENT_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            },
            manager_env={
                "BERTH_SCHEDULE_INTERVAL": str(SCHEDULE),
                "BERTH_HEARTBEAT_TIMEOUT": str(LOST_AFTER),
            },
        )
        self.results: dict[str, Any] = {"db": db}
        self.not_alive: list[tuple[float, str]] = []
        self.token = ""

    # ---- helpers ----
    def http(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.cluster.url, timeout=60,
                                 headers={"Authorization": f"Bearer {self.token}"}, **kw)

    def manager_cpu(self) -> float:
        """CPU seconds the manager process has used (user + system)."""
        assert self.cluster.manager is not None
        fields = Path(f"/proc/{self.cluster.manager.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    def statuses(self) -> dict[str, int]:
        rows = self.cluster.sql("SELECT status, status_info, count(*) FROM sessions "
                                "GROUP BY status, status_info")
        out: dict[str, int] = {}
        for status, info, n in rows:
            out[status] = out.get(status, 0) + int(n)
            if status in ("ERROR", "CANCELLED", "TERMINATED"):
                out[f"{status}:{info}"] = int(n)
        return out

    def agent(self) -> dict[str, Any]:
        agents = self.cluster.admin.request("GET", "/api/agents")
        return next(a for a in agents if a["id"] == self.cluster.agent_ids[0])

    def check_alive(self, t0: float) -> bool:
        status = self.agent()["status"]
        if status != "ALIVE":
            self.not_alive.append((round(time.monotonic() - t0, 1), status))
        return status == "ALIVE"

    def writes(self) -> int:
        """Session and kernel rows as stored: a digest that changes with any write."""
        rows = self.cluster.sql(
            "SELECT count(*), max(status_changed_at) FROM sessions UNION ALL "
            "SELECT count(*), max(at) FROM session_history")
        return hash(tuple(tuple(str(v) for v in r) for r in rows))

    def beats(self) -> list[tuple[str, int, int, int, float]]:
        return [(m[1], int(m[2]), int(m[3]), int(m[4]), float(m[5]))
                for m in BEAT_RE.finditer(self.cluster.log("manager"))]

    # ---- phases ----
    async def burst(self) -> None:
        n, clients = self.args.sessions, self.args.clients
        failures: list[str] = []
        latencies: list[float] = []
        todo = iter(range(n))
        body = {"image": FAKE_IMAGE, "type": "interactive", "resources": RESOURCES}

        async def worker(c: httpx.AsyncClient) -> None:
            for _ in todo:
                t = time.perf_counter()
                r = await c.post("/api/sessions", json=body)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 201:
                    failures.append(f"{r.status_code} {r.text[:200]}")

        limits = httpx.Limits(max_connections=clients)
        async with self.http(limits=limits) as c:
            cpu0 = self.manager_cpu()
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(c) for _ in range(clients)))
            took = time.perf_counter() - t0
            cpu = self.manager_cpu() - cpu0
        rate = (n - len(failures)) / took
        self.results["burst_manager_cpu_s"] = cpu
        line("  manager CPU during the burst", f"{cpu:.1f} s", f"{1000 * cpu / n:.1f} ms a create")
        self.results["burst"] = {"sessions": n, "clients": clients, "seconds": took,
                                 "creates_per_s": rate, "failures": len(failures),
                                 "failure_sample": failures[:3],
                                 "p50_ms": 1000 * pct(latencies, 50),
                                 "p99_ms": 1000 * pct(latencies, 99)}
        line(f"create {n} sessions, {clients} clients", f"{rate:.0f}/s",
             f">= {TARGETS['creates_per_s']}/s", rate >= TARGETS["creates_per_s"])
        line("  failed creates", str(len(failures)), "0", not failures)
        line("  create latency p50 / p99", f"{1000 * pct(latencies, 50):.0f} / "
             f"{1000 * pct(latencies, 99):.0f} ms")

    def wait_running(self, t0: float) -> None:
        want = self.args.running
        start = time.monotonic()

        def enough() -> bool:
            self.check_alive(t0)
            return self.statuses().get("RUNNING", 0) >= want
        try:
            wait_for(enough, self.args.wait, interval=2, what=f"{want} RUNNING")
        finally:
            took = time.monotonic() - start
            counts = self.statuses()
            self.results["placement"] = {"seconds_after_burst": took, "statuses": counts}
            line(f"{want} RUNNING after the burst", f"{took:.0f} s", "")
            line("  statuses", json.dumps(counts))

    def quiet(self, t0: float) -> None:
        """Several heartbeats with nothing changing."""
        before, first = self.writes(), self.agent()["last_heartbeat"]
        seen = set()
        end = time.monotonic() + 4 * HEARTBEAT
        while time.monotonic() < end:
            self.check_alive(t0)
            seen.add(self.agent()["last_heartbeat"])
            time.sleep(1)
        beats = len(seen - {first})
        unchanged = self.writes() == before
        self.results["quiet"] = {"heartbeats": beats, "no_session_writes": unchanged}
        line("heartbeats seen in 20 s of quiet", str(beats), ">= 3", beats >= 3)
        line("  sessions written meanwhile", "none" if unchanged else "SOME", "none",
             unchanged)

    async def posted_beat(self) -> None:
        """Time the manager's handling of a beat of every kernel where nothing changed: the
        agent's own report, rebuilt from what the manager stored, posted like the agent."""
        rows = self.cluster.sql(
            "SELECT k.id, k.session_id, k.container_id FROM kernels k JOIN sessions s "
            "ON s.id = k.session_id WHERE s.status = 'RUNNING'")
        agent = self.agent()
        node = self.cluster.nodes[0]
        beat = Heartbeat(
            agent_id=agent["id"], address=f"http://127.0.0.1:{node.port}",
            resource_group=agent["resource_group"], capacity=agent["capacity"],
            images=await FakeBackend(agent["id"]).list_images(), version=agent["version"],
            info=agent.get("info") or {},
            kernels=[KernelReport(kernel_id=k, session_id=s, state=KernelState.RUNNING,
                                  container_id=c) for k, s, c in rows])
        body = beat.model_dump_json()
        token = (self.cluster.root / "agent-token").read_text().strip()
        times = []
        async with httpx.AsyncClient(timeout=60) as c:
            for _ in range(5):
                t = time.perf_counter()
                r = await c.post(f"{self.cluster.url}/api/agent/v1/heartbeat", content=body,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
                times.append(time.perf_counter() - t)
                r.raise_for_status()
                await asyncio.sleep(0.5)
        med = statistics.median(times)
        self.results["heartbeat_post"] = {"kernels": len(rows), "bytes": len(body),
                                          "seconds": times}
        line(f"heartbeat POST, {len(rows)} kernels, none changed", f"{1000 * med:.0f} ms",
             "< 10000 ms (agent timeout 30 s)", med < 10)
        await self.posted_deltas(beat, token)

    async def posted_deltas(self, full: Heartbeat, token: str) -> None:
        """Time what an agent posts between its full beats: a delta saying nothing changed
        (as the agent sends it, relative to the beat the manager acknowledged). The beats
        take an epoch of their own; the real agent's next delta is then refused and it sends
        a full beat (the manager restart case)."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        epoch = f"bench-{os.getpid()}"
        times: list[float] = []
        taken = 0
        async with httpx.AsyncClient(timeout=60, headers=headers) as c:
            url = f"{self.cluster.url}/api/agent/v1/heartbeat"
            seq, ack = 1, None
            for _ in range(20):
                if ack is None:  # a full beat of this epoch first (again if it was refused)
                    beat = full.model_copy(update={"epoch": epoch, "seq": seq})
                else:
                    beat = full.model_copy(update={
                        "epoch": epoch, "seq": seq, "base": ack, "kernels": [],
                        "kernel_count": len(full.kernels)})
                t = time.perf_counter()
                r = await c.post(url, content=beat.model_dump_json())
                took = time.perf_counter() - t
                r.raise_for_status()
                reply = r.json()
                if beat.base is not None and reply.get("ack") == seq:
                    times.append(took)
                    taken += 1
                ack = reply.get("ack") if reply.get("ack") == seq else None
                seq += 1
                if taken >= 10:
                    break
        if not times:
            line("heartbeat POST, delta, none changed", "none taken", "", False)
            return
        med = statistics.median(times)
        self.results["heartbeat_delta_post"] = {"kernels": len(full.kernels), "seconds": times}
        line(f"heartbeat POST, delta of {len(full.kernels)} kernels, none changed",
             f"{1000 * med:.1f} ms", f"({taken} taken)")

    async def lists(self, label: str) -> None:
        samples = self.args.samples

        async def one(c: httpx.AsyncClient, out: list[float]) -> None:
            t = time.perf_counter()
            r = await c.get("/api/sessions", params={"limit": 50})
            out.append(time.perf_counter() - t)
            r.raise_for_status()

        async with self.http() as c:
            for _ in range(10):
                await one(c, [])  # warm-up
            alone: list[float] = []
            for _ in range(samples):
                await one(c, alone)
        together: list[float] = []

        async def client() -> None:
            async with self.http() as c:
                for _ in range(samples // 10 * 2):
                    await one(c, together)
        await asyncio.gather(*(client() for _ in range(10)))
        p99, p99c = 1000 * pct(alone, 99), 1000 * pct(together, 99)
        self.results[f"list_{label}"] = {
            "alone_ms": {"p50": 1000 * pct(alone, 50), "p99": p99},
            "ten_clients_ms": {"p50": 1000 * pct(together, 50), "p99": p99c}}
        line(f"GET /api/sessions first page p99, alone ({label})", f"{p99:.0f} ms",
             f"< {TARGETS['list_p99_ms']} ms", p99 < TARGETS["list_p99_ms"])
        line(f"  p99 with 10 concurrent clients ({label})", f"{p99c:.0f} ms",
             f"< {TARGETS['list_p99_10_clients_ms']} ms",
             p99c < TARGETS["list_p99_10_clients_ms"])
        line("  p50 alone / 10 clients", f"{1000 * pct(alone, 50):.0f} / "
             f"{1000 * pct(together, 50):.0f} ms")

    def restart_manager(self, t0: float) -> None:
        c = self.cluster
        running = self.statuses().get("RUNNING", 0)
        fulls = len([b for b in self.beats() if b[0] == "full"])
        c.stop_manager()
        start = time.monotonic()
        c.start_manager()
        c.admin = c.client()
        c.admin.login("admin@berth.local", c.admin_password)
        # The first beat after the start reconciles in full (the log's next "full" line).
        wait_for(lambda: len([b for b in self.beats() if b[0] == "full"]) > fulls, 120,
                 what="a full reconciliation after the restart")
        full = [b for b in self.beats() if b[0] == "full"][fulls]
        time.sleep(2 * HEARTBEAT)
        alive = self.check_alive(t0)
        after = self.statuses().get("RUNNING", 0)
        self.results["manager_restart"] = {
            "seconds_to_full_pass": time.monotonic() - start, "full_pass_seconds": full[4],
            "sessions_reconciled": full[2], "running_before": running, "running_after": after,
            "alive": alive}
        line("manager restart: full heartbeat reconciliation", f"{full[4]:.2f} s",
             f"{full[2]} sessions")
        line("  agent ALIVE after it", str(alive), "True", alive)
        line("  RUNNING kept", f"{after}/{running}", "all", after == running)

    def restart_agent(self, t0: float) -> None:
        c = self.cluster
        pending = self.statuses().get("PENDING", 0)
        start = time.monotonic()
        c.stop_agent()
        c.start_agent()
        wait_for(lambda: self.check_alive(t0), 60, what="the agent ALIVE again")
        back = time.monotonic() - start
        # The fake forgot its kernels: they end as kernel-lost after the create grace, and the
        # sessions that waited take their place.
        want = min(self.args.running, pending)
        moving = ("PENDING", "SCHEDULED", "PREPARING", "CREATING", "TERMINATING")

        def settled() -> bool:
            self.check_alive(t0)
            now = self.statuses()
            if pending > self.args.running:
                return now.get("RUNNING", 0) == want
            return now.get("RUNNING", 0) == want and not any(now.get(s) for s in moving)
        wait_for(settled, self.args.wait, interval=2, what=f"{want} waiting sessions to run")
        took = time.monotonic() - start
        time.sleep(2 * HEARTBEAT)
        alive = self.check_alive(t0)
        counts = self.statuses()
        self.results["agent_restart"] = {"alive_again_s": back, "waiting_running_s": took,
                                         "alive": alive, "statuses": counts}
        line("agent restart: ALIVE again", f"{back:.0f} s", "")
        line(f"  the old kernels ended, the {want} waiting sessions RUNNING", f"{took:.0f} s",
             "")
        line("  agent ALIVE 10 s later", str(alive), "True", alive)
        line("  statuses", json.dumps(counts))

    def heartbeat_figures(self) -> None:
        changes = [b[4] for b in self.beats() if b[0] == "changes"]
        if changes:
            self.results["heartbeats"] = {"count": len(changes), "max_s": max(changes),
                                          "p50_s": statistics.median(changes)}
            med = 1000 * statistics.median(changes)
            line("slow heartbeats (> 1 s) logged, p50 / max",
                 f"{med:.0f} / {1000 * max(changes):.0f} ms", f"{len(changes)} of them")

    async def run(self) -> dict[str, Any]:
        print(f"\n== {self.db}: {self.args.sessions} sessions, {self.args.running} running on "
              "one fake agent ==", flush=True)
        self.cluster.start()
        self.token = self.cluster.admin.http.headers["Authorization"].removeprefix("Bearer ")
        t0 = time.monotonic()
        await self.burst()
        await self.lists("right after the burst")
        self.wait_running(t0)
        self.quiet(t0)
        await self.lists("quiet")  # before the posted beats: they make the agent send a full one
        await self.posted_beat()
        self.heartbeat_figures()
        self.restart_manager(t0)
        self.restart_agent(t0)
        self.results["not_alive"] = self.not_alive
        line("times the agent was seen not ALIVE", str(len(self.not_alive)), "0",
             not self.not_alive)
        locked = self.cluster.log("manager").count("database is locked")
        self.results["database_locked"] = locked
        line("'database is locked' in the manager's log", str(locked), "0", locked == 0)
        return self.results

    def close(self, keep_logs: bool) -> None:
        if keep_logs:
            out = ROOT / "benchmarks" / "results"
            out.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            for what in ("manager", "agent"):
                path = self.cluster.root / f"{what}.log"
                if path.exists():
                    (out / f"scale-{stamp}-{self.db}-{what}.log").write_bytes(path.read_bytes())
        # Stop the processes first: Cluster.close would end every session one by one.
        self.cluster.stop_agent()
        self.cluster.stop_manager()
        self.cluster.close()


async def _main(args: argparse.Namespace) -> int:
    results = []
    for db in args.db.split(","):
        bench = Bench(db, args)
        ok = False
        try:
            results.append(await bench.run())
            ok = True
        finally:
            bench.close(keep_logs=not ok or args.keep_logs)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scale-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    meta = {"time": datetime.now(UTC).isoformat(), "host": platform.node(),
            "cpus": os.cpu_count(), "load": os.getloadavg(), "args": vars(args),
            "targets": TARGETS}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    print(f"\nresults: {path}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--running", type=int, default=8_000)
    p.add_argument("--clients", type=int, default=16, help="concurrent create requests")
    p.add_argument("--samples", type=int, default=200, help="list requests per measure")
    p.add_argument("--wait", type=float, default=900, help="seconds to wait for RUNNING")
    p.add_argument("--keep-logs", action="store_true")
    return asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

