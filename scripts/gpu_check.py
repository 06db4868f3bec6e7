#!/usr/bin/env python3
"""Check Berth's NVIDIA plugin on a real GPU machine, without a container engine.

Uses the plugin's own code: NVML discovery and stats, the MPS daemon of GPU 0, and the
environment the plugin gives two kernels holding ``cuda.shares`` 0.5 each (chosen by the
allocator in :mod:`berth.domain.devices`). Two plain client processes run with those
environments at the same time and, through the CUDA driver API (ctypes on libcuda; no
framework needed), check that an allocation below their pinned memory limit works, that one
beyond it fails, and that they see fewer SMs than the whole GPU has.

    uv run python scripts/gpu_check.py --out gpu_check.json

Prints PASS/FAIL per check; exits 0 when all pass, 1 when one fails, 2 when there is no
NVIDIA GPU (with the reason). The MPS daemon is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
MiB = 2**20
#: Seconds a client may take to start CUDA and answer (MPS servers start in a second or two).
CLIENT_TIMEOUT = 120.0
CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16


# -- the client: runs in its own process, with the environment under test -------------------

def _cuda() -> Any:
    cuda = ctypes.CDLL("libcuda.so.1")
    c_int_p = ctypes.POINTER(ctypes.c_int)
    cuda.cuInit.argtypes = [ctypes.c_uint]
    cuda.cuDeviceGet.argtypes = [c_int_p, ctypes.c_int]
    cuda.cuDeviceGetAttribute.argtypes = [c_int_p, ctypes.c_int, ctypes.c_int]
    cuda.cuCtxCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_int]
    cuda.cuCtxDestroy_v2.argtypes = [ctypes.c_void_p]
    cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    cuda.cuMemFree_v2.argtypes = [ctypes.c_uint64]
    cuda.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    return cuda


def _error(cuda: Any, rc: int) -> str:
    name = ctypes.c_char_p()
    cuda.cuGetErrorName(rc, ctypes.byref(name))
    return f"{rc} {(name.value or b'?').decode()}"


def _try_alloc(cuda: Any, size: int) -> tuple[bool, str]:
    """Allocate and free ``size`` bytes: (worked, CUDA's answer)."""
    ptr = ctypes.c_uint64()
    rc = cuda.cuMemAlloc_v2(ctypes.byref(ptr), size)
    if rc == 0:
        cuda.cuMemFree_v2(ptr)
        return True, "0 CUDA_SUCCESS"
    return False, _error(cuda, rc)


def client(below: int, beyond: int) -> int:
    """Open a context on device 0, report its SM count, allocate ``below`` bytes; then wait
    for a line on stdin (so that two clients hold contexts at once) and try ``beyond``
    bytes (0: skip). Prints one JSON line after each step."""
    result: dict[str, Any] = {}
    try:
        cuda = _cuda()
        dev, sm, ctx = ctypes.c_int(), ctypes.c_int(), ctypes.c_void_p()
        for step, rc in (("cuInit", cuda.cuInit(0)),
                         ("cuDeviceGet", cuda.cuDeviceGet(ctypes.byref(dev), 0)),
                         ("cuCtxCreate", cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev))):
            if rc != 0:
                raise RuntimeError(f"{step}: {_error(cuda, rc)}")
        rc = cuda.cuDeviceGetAttribute(ctypes.byref(sm),
                                       CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)
        result["sm_count"] = sm.value if rc == 0 else None
        result["below_ok"], result["below_answer"] = _try_alloc(cuda, below)
    except (OSError, RuntimeError) as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    sys.stdin.readline()
    if beyond:
        ok, answer = _try_alloc(cuda, beyond)
        print(json.dumps({"beyond_ok": ok, "beyond_answer": answer}), flush=True)
    cuda.cuCtxDestroy_v2(ctx)
    return 0


# -- the check: drives the plugin and the clients ---------------------------------------

class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    def write(self, out: Path | None, **extra: Any) -> None:
        if out is not None:
            out.write_text(json.dumps({"ok": self.ok, "checks": self.checks, **self.data,
                                       **extra}, indent=2) + "\n")


class Client:
    """One client process started with ``env`` on top of this process's environment."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, env: dict[str, str], below: int, beyond: int) -> Client:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", "--below", str(below), "--beyond", str(beyond),
            env={**os.environ, **env}, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        return cls(proc)

    async def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), CLIENT_TIMEOUT)
        if not line:
            return {"error": f"client exited (code {await self.proc.wait()}) without answering"}
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    async def go(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        return await self.answer()

    async def finish(self) -> None:
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), CLIENT_TIMEOUT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def _baseline(env: dict[str, str]) -> dict[str, Any]:
    """The SM count of the whole GPU, seen by a client without MPS."""
    c = await Client.start(env, MiB, 0)
    try:
        first = await c.answer()
        if "error" not in first:
            await c.go()
        return first
    finally:
        await c.finish()


async def _shares_clients(report: Report, envs: list[dict[str, str]], limit: int,
                          full_sm: int | None) -> None:
    below, beyond = limit // 2, limit + 512 * MiB
    clients = [await Client.start(env, below, beyond) for env in envs]
    try:
        firsts = [await c.answer() for c in clients]
        # Both contexts are open now; the large tries go one at a time, so that the whole
        # GPU would have room for each if MPS did not limit it.
        seconds = [await c.go() if "error" not in f else {} for c, f in zip(clients, firsts,
                                                                             strict=True)]
    finally:
        for c in clients:
            await c.finish()
    report.data["clients"] = [{**f, **s} for f, s in zip(firsts, seconds, strict=True)]
    for n, (first, second) in enumerate(zip(firsts, seconds, strict=True), 1):
        if "error" in first:
            report.check(f"client{n}_started", False, first["error"])
            continue
        report.check(f"client{n}_alloc_below_limit", bool(first["below_ok"]),
                     f"{below // MiB} MiB of a {limit // MiB} MiB limit: "
                     f"{first['below_answer']}")
        report.check(f"client{n}_alloc_beyond_limit_refused", not second.get("beyond_ok", True),
                     f"{beyond // MiB} MiB: {second.get('beyond_answer')}")
        sm = first.get("sm_count")
        report.check(f"client{n}_sm_reduced", sm is not None and full_sm is not None
                     and sm < full_sm, f"{sm} SMs seen, the whole GPU has {full_sm}")


async def check(out: Path | None, state_dir: Path) -> int:
    sys.path.insert(0, str(SRC))
    from decimal import Decimal

    from berth.agent.accelerators.nvidia import NvidiaPlugin
    from berth.domain.devices import Allocation, allocate

    report = Report()
    plugin = NvidiaPlugin(state_dir)
    devices = await plugin.discover()
    if not devices:
        print(f"no NVIDIA GPU: {plugin.reason}", file=sys.stderr)
        report.write(out, reason=f"no NVIDIA GPU: {plugin.reason}")
        return 2
    try:
        report.data["devices"] = [vars(d) for d in devices]
        report.check("nvml_discovery", True, ", ".join(f"{d.id}: {d.model} "
                                                       f"{d.memory // MiB} MiB" for d in devices))
        stats = (await plugin.stats()).devices.get("0")
        report.check("nvml_stats", stats is not None and stats.mem_total > 0,
                     f"GPU 0: {stats}")
        whole = Allocation("cuda", "whole", {"0": Decimal(1)})
        baseline = await _baseline(plugin.process_env(whole, devices))
        full_sm = baseline.get("sm_count")
        report.check("baseline_client", "error" not in baseline,
                     baseline.get("error", f"{full_sm} SMs on the whole GPU"))

        await plugin.start()
        mps = (await plugin.health())["mps"]
        if not report.check("mps_daemon_started", mps.get("0") == "running", f"GPU 0: {mps}"):
            return 1
        held: dict[str, Allocation] = {}
        for kernel in ("kernel-a", "kernel-b"):
            got = allocate(devices, held, {"cuda.shares": Decimal("0.5")}, "cuda")
            assert isinstance(got, Allocation), got
            held[kernel] = got
        report.check("allocator_packs_gpu0", all(list(a.devices) == ["0"]
                                                 for a in held.values()),
                     str({k: a.to_json() for k, a in held.items()}))
        envs = [plugin.process_env(a, devices) for a in held.values()]
        report.data["client_env"] = envs
        limit = int(envs[0]["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"].split("=")[1].rstrip("M")) * MiB
        await _shares_clients(report, envs, limit, full_sm)
    finally:
        await plugin.close()
        daemon_gone = await _daemon_gone(plugin)
        report.check("mps_daemon_stopped", daemon_gone, "no daemon answers after quit"
                     if daemon_gone else "a daemon still answers 10 s after quit")
        report.write(out)
    return 0 if report.ok else 1


async def _daemon_gone(plugin: Any) -> bool:
    from berth.agent.accelerators.mps import MpsDaemon

    daemons: list[MpsDaemon] = list(plugin.mps_daemons.values())
    deadline = time.monotonic() + 10
    while True:
        alive = [d for d in daemons if await d.alive()]
        if not alive or time.monotonic() > deadline:
            return not alive
        await asyncio.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--state-dir", type=Path,
                        help="where the MPS pipe and log directories go (default: a new "
                             "temporary directory, removed at the end)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--below", type=int, default=MiB, help=argparse.SUPPRESS)
    parser.add_argument("--beyond", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client(args.below, args.beyond)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="berth-gpu-check-"))
    try:
        return asyncio.run(check(args.out, state_dir))
    finally:
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
