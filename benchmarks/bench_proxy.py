"""Throughput and memory of Berth's app proxy against direct access to the kernel's port.

    uv run python benchmarks/bench_proxy.py [--seconds S] [--rounds R] [--leak-connections N]

Starts its own Berth (manager + agent subprocesses on SQLite, through ``tests/cluster.py``),
creates an interactive ``berth/python:3.11`` session with port 8080 pre-opened, starts
``benchmarks/proxy_backend.py`` (a fast static HTTP + WebSocket echo server) in the kernel,
opens that port as a public app through ``POST /api/sessions/{id}/apps/port-8080/open``,
then measures, in the same run:

(a) HTTP requests/s: C keep-alive connections, each doing sequential ``GET /`` for S seconds;
(b) WebSocket messages/s: C connections, each sending a 64-byte text message and waiting for
    its echo, for S seconds;

at concurrency C = 1 and 10, each against the kernel's published port on 127.0.0.1 (direct)
and through the proxy, interleaved (the order alternates every round), R rounds; medians and
the ratios proxy/direct are printed (target >= 0.5; configurable-http-proxy, JupyterHub's
proxy, reached 0.22 at c=1 and 0.14 at c=10 against nginx on this kind of machine).

Then the leak check: the resident memory and open file descriptors of the manager process
(the proxy runs in it), before and after 10,000 WebSocket connections through the proxy,
opened and closed 100 at a time (each: handshake, one echo, close handshake).

The load generators are raw asyncio streams in this process (an HTTP client library would be
slower than what it measures). On a small machine the load generator, the backend, the
engine's port forwarder and the proxy share the CPUs, so the absolute numbers are low; the
ratios are what to look at. Results also go to ``benchmarks/results/proxy-<timestamp>.json``.
``--direct-only`` measures the direct side alone (e.g. to check the load generator).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import shutil
import statistics
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import aiodocker  # noqa: E402
import proxy_backend  # noqa: E402  (benchmarks/, next to this script)

from berth.client import ENDED, ApiError, AsyncClient  # noqa: E402
from cluster import Cluster  # noqa: E402

IMAGE = "berth/python:3.11"
RESOURCES = {"cpu": 1, "mem": "1g"}
APP_PORT = 8080
APP_NAME = f"port-{APP_PORT}"
KERNEL_PYTHON = "/opt/berth/venv/bin/python"
BACKEND_PATH = "/tmp/proxy_backend.py"
BACKEND_LOG = "/tmp/proxy_backend.log"
TARGET = 0.5
#: configurable-http-proxy / direct, against nginx, on this kind of machine (from the issue).
CHP_REFERENCE = {1: 0.22, 10: 0.14}
CONCURRENCY = (1, 10)
WS_MESSAGE = b"x" * 64
#: Upper bound of any single network operation of the load generators (s).
OP_TIMEOUT = 10.0
#: Growth of the manager's memory over the leak check still counted as "returned near start".
LEAK_LIMIT_MIB = 5.0


# ---- the load generators -----------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where to send requests: an address plus header lines (e.g. a cookie) for each one."""

    name: str
    host: str
    port: int
    headers: bytes = b""

    def request(self, path: str = "/", extra: bytes = b"") -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode()
            + self.headers
            + extra
            + b"\r\n"
        )


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """One HTTP/1.1 response framed by its ``Content-Length``: (status, head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        if status in (101, 204, 304):
            return status, head, b""
        raise RuntimeError(f"response without Content-Length: {head[:300]!r}")
    end = lower.index(b"\r\n", at + 2)
    length = int(head[at + 17 : end])
    body = await reader.readexactly(length) if length else b""
    return status, head, body


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def http_load(target: Target, conns: int, seconds: float) -> float:
    """Responses/s of ``conns`` keep-alive connections each doing sequential GETs. The
    connections are opened (and checked with one request) before the clock starts."""
    request = target.request()
    streams = await asyncio.gather(
        *(asyncio.open_connection(target.host, target.port) for _ in range(conns))
    )
    try:
        for reader, writer in streams:
            writer.write(request)
            status, head, body = await asyncio.wait_for(read_response(reader), OP_TIMEOUT)
            if status != 200 or body != proxy_backend.BODY:
                raise RuntimeError(f"{target.name}: unexpected response {head[:300]!r} {body!r}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
            done = 0
            while loop.time() < deadline:
                writer.write(request)
                async with asyncio.timeout(OP_TIMEOUT):
                    status, _, _ = await read_response(reader)
                if status != 200:
                    raise RuntimeError(f"{target.name}: status {status}")
                done += 1
            return done

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(worker(r, w) for r, w in streams))
        return sum(counts) / (time.perf_counter() - t0)
    finally:
        await asyncio.gather(*(_close(w) for _, w in streams))


class WebSocket:
    """The client side of RFC 6455, just enough to drive an echo server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, target: Target, path: str = "/") -> WebSocket:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            key = base64.b64encode(os.urandom(16))
            writer.write(
                target.request(
                    path,
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n",
                )
            )
            async with asyncio.timeout(OP_TIMEOUT):
                status, head, _ = await read_response(reader)
            accept = b"\r\nsec-websocket-accept: " + proxy_backend.accept_key(key).lower()
            if status != 101 or accept not in head.lower():
                raise RuntimeError(f"{target.name}: handshake failed: {head[:300]!r}")
        except BaseException:
            await _close(writer)
            raise
        return cls(reader, writer)

    @staticmethod
    def encode(opcode: int, payload: bytes) -> bytes:
        """A client frame: FIN, masked with a fresh random key."""
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 2**16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        return head + mask + proxy_backend.unmask(payload, mask)

    async def receive(self) -> tuple[int, bytes]:
        """The next frame from the server (unmasked): (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        mask = await self.reader.readexactly(4) if second & 0x80 else b""
        payload = await self.reader.readexactly(n) if n else b""
        if mask:
            payload = proxy_backend.unmask(payload, mask)
        return first & 0x0F, payload

    async def echo(self, frame: bytes, payload: bytes) -> None:
        """Send a prepared frame and check that its payload comes back."""
        self.writer.write(frame)
        async with asyncio.timeout(OP_TIMEOUT):
            opcode, got = await self.receive()
        if opcode != proxy_backend.OP_TEXT or got != payload:
            raise RuntimeError(f"bad echo: opcode {opcode}, {got[:64]!r}")

    async def close(self) -> None:
        """The close handshake (status 1000), then the connection."""
        try:
            self.writer.write(self.encode(proxy_backend.OP_CLOSE, struct.pack("!H", 1000)))
            async with asyncio.timeout(OP_TIMEOUT):
                while (await self.receive())[0] != proxy_backend.OP_CLOSE:
                    pass
        finally:
            await _close(self.writer)


async def ws_load(target: Target, conns: int, seconds: float) -> float:
    """Round trips/s of ``conns`` WebSocket connections each sending a message and waiting
    for its echo. Connections are opened (and checked with one echo) before the clock
    starts. Each connection reuses one masked frame, so that the load generator spends its
    CPU on sending rather than on masking."""
    sockets = await asyncio.gather(*(WebSocket.connect(target) for _ in range(conns)))
    try:
        frames = [WebSocket.encode(proxy_backend.OP_TEXT, WS_MESSAGE) for _ in sockets]
        for ws, frame in zip(sockets, frames, strict=True):
            await ws.echo(frame, WS_MESSAGE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def worker(ws: WebSocket, frame: bytes) -> int:
            done = 0
            while loop.time() < deadline:
                await ws.echo(frame, WS_MESSAGE)
                done += 1
            return done

        t0 = time.perf_counter()
        counts = await asyncio.gather(
            *(worker(ws, f) for ws, f in zip(sockets, frames, strict=True))
        )
        return sum(counts) / (time.perf_counter() - t0)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def ws_once(target: Target) -> None:
    """One short-lived WebSocket: handshake, one echo, close handshake."""
    ws = await WebSocket.connect(target)
    try:
        await ws.echo(WebSocket.encode(proxy_backend.OP_TEXT, WS_MESSAGE), WS_MESSAGE)
    finally:
        await ws.close()


# ---- the proxied process's memory --------------------------------------------------------
def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def proxy_pid(cluster: Cluster) -> int:
    """The process the proxy runs in: the manager."""
    assert cluster.manager is not None
    return cluster.manager.pid


async def leak_check(target: Target, pid: int, total: int, batch: int) -> dict[str, Any]:
    """RSS and fds of ``pid`` before, during and after ``total`` short WebSocket connections
    through ``target``, ``batch`` at a time. One unmeasured batch first, so that "before"
    is a process that has already served that many connections at once."""
    await asyncio.gather(*(ws_once(target) for _ in range(batch)))
    await asyncio.sleep(1)
    marks = [(0, rss_mib(pid), open_fds(pid))]
    print(f"  leak check: before {marks[0][1]:.1f} MiB, {marks[0][2]} fds", flush=True)
    failures: list[str] = []
    every = max(total // 5, batch)
    t0 = time.perf_counter()
    done = 0
    while done < total:
        n = min(batch, total - done)
        results = await asyncio.gather(*(ws_once(target) for _ in range(n)), return_exceptions=True)
        failures += [repr(r) for r in results if isinstance(r, BaseException)]
        done += n
        if done % every == 0 or done == total:
            if done == total:  # let the proxy finish closing its sides (at most 5 s)
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if open_fds(pid) <= marks[0][2]:
                        break
                await asyncio.sleep(0.5)
            marks.append((done, rss_mib(pid), open_fds(pid)))
            print(
                f"  leak check: {done:>6} connections, {marks[-1][1]:.1f} MiB, "
                f"{marks[-1][2]} fds, {len(failures)} failed",
                flush=True,
            )
    seconds = time.perf_counter() - t0
    before, after = marks[0], marks[-1]
    return {
        "connections": total,
        "batch": batch,
        "seconds": seconds,
        "connections_per_second": total / seconds,
        "failures": len(failures),
        "failure_examples": failures[:5],
        "marks": [{"connections": c, "rss_mib": r, "fds": f} for c, r, f in marks],
        "rss_before_mib": before[1],
        "rss_after_mib": after[1],
        "rss_growth_mib": after[1] - before[1],
        "fds_before": before[2],
        "fds_after": after[2],
    }


# ---- the kernel, its backend and the proxy -----------------------------------------------
async def start_session(client: AsyncClient) -> dict[str, Any]:
    """An interactive session with port 8080 pre-opened, once RUNNING with the port's
    host binding known."""
    [s] = await client.create_session(
        type="interactive", image=IMAGE, resources=RESOURCES, preopen_ports=[APP_PORT]
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        detail = await client.get_session(s["id"])
        if detail["status"] in ENDED:
            raise RuntimeError(f"session ended: {detail['status_info']} {detail['status_data']}")
        kernels = detail.get("kernels") or []
        if detail["status"] == "RUNNING" and kernels and host_port(kernels[0]):
            return detail
        await asyncio.sleep(0.5)
    raise TimeoutError("the session was not RUNNING with its port published within 120 s")


def host_port(kernel: dict[str, Any]) -> int | None:
    for item in kernel.get("app_ports") or []:
        if item["container_port"] == APP_PORT and item.get("host_port"):
            return int(item["host_port"])
    return None


async def _exec(container: Any, cmd: list[str], detach: bool) -> bytes:
    execution = await container.exec(cmd, user="1000", stdout=not detach, stderr=not detach)
    if detach:
        await execution.start(detach=True)
        return b""
    out = b""
    async with execution.start() as stream:
        while (message := await stream.read_out()) is not None:
            out += message.data
    return out


async def start_backend(docker: aiodocker.Docker, kernel: dict[str, Any], direct: Target) -> None:
    """Copy ``proxy_backend.py`` into the kernel, start it there, wait until it answers."""
    container = await docker.containers.get(kernel.get("container_id") or f"berth-{kernel['id']}")
    source = (Path(__file__).parent / "proxy_backend.py").read_bytes()
    encoded = base64.b64encode(source).decode()
    script = (
        f"echo {encoded} | base64 -d > {BACKEND_PATH} && "
        f"exec {KERNEL_PYTHON} {BACKEND_PATH} {APP_PORT} > {BACKEND_LOG} 2>&1"
    )
    await _exec(container, ["/bin/sh", "-c", script], detach=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            await http_load(direct, 1, 0)
            return
        except (OSError, RuntimeError, asyncio.IncompleteReadError, TimeoutError) as e:
            if time.monotonic() > deadline:
                log = await _exec(container, ["cat", BACKEND_LOG], detach=False)
                raise RuntimeError(f"the backend does not answer; its log: {log!r}") from e
            await asyncio.sleep(0.3)


async def open_app(client: AsyncClient, session_id: str) -> Target:
    """Open the kernel's port 8080 as a public app; the proxy's address (plus any cookie the
    one-time URL sets, so that this would also work for a private app)."""
    opened = await client.request(
        "POST", f"/api/sessions/{session_id}/apps/{APP_NAME}/open", json={"public": True}
    )
    url = urlsplit(opened["url"])
    host, port = url.hostname or "127.0.0.1", int(url.port or opened["proxy_port"])
    reader, writer = await asyncio.open_connection(host, port)
    try:
        path = url.path + (f"?{url.query}" if url.query else "")
        writer.write(Target("proxy", host, port).request(path, b"Connection: close\r\n"))
        async with asyncio.timeout(OP_TIMEOUT):
            status, head, _ = await read_response(reader)
    finally:
        await _close(writer)
    if status >= 400:
        raise RuntimeError(f"the app's URL answered {head[:300]!r}")
    cookies = [
        line.split(b":", 1)[1].split(b";", 1)[0].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"set-cookie:")
    ]
    headers = b"Cookie: " + b"; ".join(cookies) + b"\r\n" if cookies else b""
    return Target("proxy", host, port, headers)


# ---- running and reporting ---------------------------------------------------------------
def paired_ratios(by_target: dict[str, list[float]]) -> dict[str, Any]:
    """proxy/direct of each round (both measured back to back, so that a burst of load from
    elsewhere on the machine mostly hits a pair rather than one side), and their median."""
    rounds = [p / d for p, d in zip(by_target["proxy"], by_target["direct"], strict=True)]
    return {
        "median": statistics.median(rounds),
        "min": min(rounds),
        "max": max(rounds),
        "rounds": rounds,
        "of_medians": statistics.median(by_target["proxy"])
        / statistics.median(by_target["direct"]),
    }


Load = Callable[[Target, int, float], Awaitable[float]]
LOADS: dict[str, tuple[Load, str]] = {"http": (http_load, "req/s"), "ws": (ws_load, "msgs/s")}


async def throughput(
    targets: list[Target], seconds: float, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """``samples[f"{kind} c={c}"][target] = [rate per round]``, interleaving the targets
    (their order alternates every round) and every measurement round by round."""
    samples: dict[str, dict[str, list[float]]] = {}
    for load, _ in LOADS.values():  # warm-up, not counted
        for target in targets:
            await load(target, max(CONCURRENCY), min(seconds, 1.0))
    for i in range(rounds):
        order = targets if i % 2 == 0 else targets[::-1]
        for conns in CONCURRENCY:
            for kind, (load, unit) in LOADS.items():
                key = f"{kind} c={conns}"
                shown = []
                for target in order:
                    rate = await load(target, conns, seconds)
                    samples.setdefault(key, {}).setdefault(target.name, []).append(rate)
                    shown.append(f"{target.name}={rate:,.0f}")
                print(f"  round {i + 1}/{rounds} {key:<9} {unit:<7} {'  '.join(shown)}", flush=True)
    return samples


def report(results: dict[str, Any]) -> None:
    print()
    stats = results["throughput"]
    proxied = "ratios" in results
    header = f"{'measure':<22}{'direct':>10}{'proxy':>10}{'proxy/direct':>14}"
    print(header + (f"{'(rounds)':>13}{'CHP ref':>9}{'target':>8}" if proxied else ""))
    for key, by_target in stats.items():
        kind, conns = key.split(" c=")
        label = f"{'HTTP' if kind == 'http' else 'WebSocket'} {LOADS[kind][1]} c={conns}"
        line = f"{label:<22}{by_target['direct']['median']:>10,.0f}"
        if proxied:
            ratio = results["ratios"][key]
            spread = f"{ratio['min']:.2f}-{ratio['max']:.2f}"
            ok = "OK" if ratio["median"] >= TARGET else "BELOW"
            line += f"{by_target['proxy']['median']:>10,.0f}{ratio['median']:>14.3f}"
            line += f"{spread:>13}{CHP_REFERENCE[int(conns)]:>9.2f}{'>=' + str(TARGET):>6} {ok}"
        print(line)
    print(
        f"(rates: medians of {results['rounds']} rounds of {results['seconds']} s; "
        "proxy/direct: median of the rounds' ratios, each round measuring both back to back)"
    )
    leak = results.get("leak")
    if leak:
        growth = leak["rss_growth_mib"]
        verdict = "OK" if growth <= LEAK_LIMIT_MIB and not leak["failures"] else "CHECK"
        print(
            f"\nManager (proxy) memory over {leak['connections']:,} WebSocket connections "
            f"({leak['batch']} at a time, {leak['connections_per_second']:,.0f}/s, "
            f"{leak['failures']} failed):\n"
            f"  RSS before {leak['rss_before_mib']:.1f} MiB, after {leak['rss_after_mib']:.1f}"
            f" MiB, growth {growth:+.1f} MiB ({growth * 2**20 / leak['connections']:+.0f} "
            f"bytes/connection; limit {LEAK_LIMIT_MIB} MiB: {verdict}); "
            f"fds before {leak['fds_before']}, after {leak['fds_after']}"
        )
        for example in leak["failure_examples"]:
            print(f"  failure: {example}")


async def run(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    token = str(cluster.admin.http.headers["Authorization"]).removeprefix("Bearer ")
    client = AsyncClient(endpoint=cluster.url, api_key=token)
    docker = aiodocker.Docker()
    results: dict[str, Any] = {"seconds": args.seconds, "rounds": args.rounds}
    try:
        print("Starting a session with port 8080 and the backend in it ... ", end="", flush=True)
        session = await start_session(client)
        kernel = session["kernels"][0]
        direct = Target("direct", "127.0.0.1", host_port(kernel) or 0)
        await start_backend(docker, kernel, direct)
        print(f"direct at 127.0.0.1:{direct.port}", flush=True)
        targets = [direct]
        proxy: Target | None = None
        if not args.direct_only:
            try:
                proxy = await open_app(client, session["id"])
            except ApiError as e:
                if e.status not in (404, 405):
                    raise
                print(f"The proxy API is not available ({e}); measuring direct only.")
                results["proxy_unavailable"] = str(e)
            else:
                print(f"proxy at {proxy.host}:{proxy.port}", flush=True)
                targets.append(proxy)
        samples = await throughput(targets, args.seconds, args.rounds)
        results["samples"] = samples
        results["throughput"] = {
            key: {
                name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for name, v in by_target.items()
            }
            for key, by_target in samples.items()
        }
        if proxy is not None:
            results["ratios"] = {
                key: paired_ratios(by_target) for key, by_target in samples.items()
            }
            if args.leak_connections:
                results["leak"] = await leak_check(
                    proxy, proxy_pid(cluster), args.leak_connections, args.leak_batch
                )
        return results
    finally:
        await client.http.aclose()
        await docker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--leak-connections",
        type=int,
        default=10_000,
        help="WebSocket connections of the leak check (0: skip it)",
    )
    parser.add_argument("--leak-batch", type=int, default=100, help="opened at a time")
    parser.add_argument("--direct-only", action="store_true", help="do not use the proxy")
    args = parser.parse_args()
    started = datetime.now(UTC)
    print("Starting a Berth cluster (SQLite) ... ", end="", flush=True)
    # The product's loop settings rather than the test harness's fast ones, so that the
    # manager is not busier than a real one while it proxies.
    cluster = Cluster(
        db="sqlite",
        agent_env={"BERTH_AGENT_HEARTBEAT_INTERVAL": "5"},
        manager_env={"BERTH_SCHEDULE_INTERVAL": "2.0", "BERTH_HEARTBEAT_TIMEOUT": "30"},
    ).start()
    print(f"up at {cluster.url}", flush=True)
    out_dir = ROOT / "benchmarks" / "results"
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    try:
        results = asyncio.run(run(cluster, args))
    except BaseException:
        out_dir.mkdir(parents=True, exist_ok=True)
        for what in ("manager", "agent"):  # keep the logs of a failed run for diagnosis
            shutil.copy(cluster.root / f"{what}.log", out_dir / f"proxy-{stamp}-{what}.log")
        print(f"Failed; the cluster's logs are in benchmarks/results/proxy-{stamp}-*.log")
        raise
    finally:
        cluster.close()  # ends its sessions and removes the agent's containers
    results["meta"] = {
        "started": started.isoformat(),
        "image": IMAGE,
        "resources": RESOURCES,
        "target_ratio": TARGET,
        "chp_reference": CHP_REFERENCE,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    report(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"proxy-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
