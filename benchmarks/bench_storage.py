"""Storage throughput, the manager's memory while it moves files, and listing a big folder.

    uv run python benchmarks/bench_storage.py [--size 1GiB] [--files 100000] [--rounds 3]
                                              [--list-runs 5] [--skip-jupyter] [--skip-proxy]

Starts its own Berth (manager + agent subprocesses on SQLite, through ``tests/cluster.py``),
a user with a folder, and one file of ``--size`` random bytes on the same disk (under the
cluster's directory). Then, ``--rounds`` times, interleaved (the order rotates each round):

upload (the same source file each time):
  - ``berth sdk``: ``Client.upload`` -- tus at ``/api/uploads``, 32 MiB PATCHes (the SDK's);
  - ``berth raw``: tus by hand with httpx, 64 MiB PATCHes streamed from the file, to show the
    server's own cost apart from the client's chunking;
  - ``cp``: ``shutil.copyfile`` of the file into the folder's directory;
  - ``jupyter``: JupyterLab's contents API in an interactive ``berth/python:3.11`` session of
    the same user, exactly as JupyterLab's file browser uploads: ``PUT /api/contents/<path>``
    with ``{"type": "file", "format": "base64", "chunk": n, "content": ...}``, 1 MiB chunks,
    ``chunk`` 1, 2, ... and -1 for the last, against the kernel's published port on
    127.0.0.1 with Jupyter's token;
  - ``jupyter via proxy``: the same through Berth's app proxy (what a user's browser does);

download (into a scratch directory on the same disk):
  - ``berth``: ``GET /api/folders/{id}/download?path=...`` streamed to a file (SDK download);
  - ``cp``: ``shutil.copyfile`` out of the folder's directory;
  - ``jupyter`` / ``jupyter via proxy``: ``GET /files/<path>`` streamed to a file.

Every transfer is checked with SHA-256 afterwards (not timed) and its output removed. While
each runs, a thread samples the manager's RSS every 50 ms (``/proc/<pid>/status``; its
``VmHWM`` catches a peak between samples) and its CPU time; the Jupyter server's CPU time
is read from the host's ``/proc`` too.

Listing: ``--files`` empty files are created directly in a second folder's directory, then
``GET /api/folders/{id}/files?limit=100`` (first page; ``sort=name`` and ``sort=modified``)
is timed ``--list-runs`` times per round against in-process baselines: ``os.scandir`` with
d_type (what sorting by name needs) and with an ``lstat`` of every entry (what sorting by
time needs), each sorted and cut to 100, and ``ls -l | head`` as a shell reference.

Prints medians and ratios and writes ``benchmarks/results/storage-<timestamp>.json``
(git-ignored). The session, the files and the cluster are removed at the end, also on
failure or Ctrl-C (a failed run keeps the cluster's logs in ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from berth.client import Client  # noqa: E402
from cluster import Cluster, wait_for, wait_status  # noqa: E402

IMAGE = "berth/python:3.11"
#: The Jupyter session: enough memory that the page cache of a 1 GiB file does not press it.
RESOURCES = {"cpu": 2, "mem": "3g"}
MiB = 2**20
GiB = 2**30
#: JupyterLab's file browser uploads files over 1 MiB in chunks of this size.
JUPYTER_CHUNK = 1 * MiB
RAW_PATCH = 64 * MiB
IO_BLOCK = 1 * MiB
SAMPLE_EVERY = 0.05
#: The issue's aim for the manager's memory during transfers, over its idle size.
MEMORY_AIM_MIB = 100
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
UPLOADS = ["berth sdk", "berth raw", "cp", "jupyter", "jupyter via proxy"]
DOWNLOADS = ["berth sdk", "berth raw", "cp", "jupyter", "jupyter via proxy"]


# ---- sizes, files, hashes ----------------------------------------------------------------
def parse_size(text: str) -> int:
    """``1GiB``, ``64MiB``, ``512M``, ``1g``, ``1000000`` -> bytes (binary multiples)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 64MiB)")
    power = " kmgt".index((m.group(2) or " ").lower())
    return int(float(m.group(1)) * 1024**power)


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.4g} {unit}"
        n /= 1024
    return str(n)


def make_source(path: Path, size: int) -> str:
    """A file of ``size`` random bytes; its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(16 * MiB, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def file_blocks(path: Path, offset: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, in blocks (an httpx request body)."""
    with path.open("rb") as f:
        f.seek(offset)
        while length > 0:
            block = f.read(min(IO_BLOCK, length))
            if not block:
                raise RuntimeError(f"{path} ended early")
            length -= len(block)
            yield block


# ---- watching a process ------------------------------------------------------------------
def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Watch:
    """What a process did while something ran: RSS samples, its high-water mark, CPU time."""

    pid: int
    before_mib: float = 0.0
    peak_mib: float = 0.0
    after_mib: float = 0.0
    cpu_s: float = 0.0
    samples: int = 0
    _hwm_before: int = 0
    _cpu_before: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            with contextlib.suppress(OSError, RuntimeError):
                self.peak_mib = max(self.peak_mib, proc_status_kib(self.pid, "VmRSS") / 1024)
                self.samples += 1

    def __enter__(self) -> Watch:
        self.before_mib = self.peak_mib = proc_status_kib(self.pid, "VmRSS") / 1024
        self._hwm_before = proc_status_kib(self.pid, "VmHWM")
        self._cpu_before = cpu_seconds(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        with contextlib.suppress(OSError, RuntimeError):
            self.cpu_s = cpu_seconds(self.pid) - self._cpu_before
            self.after_mib = proc_status_kib(self.pid, "VmRSS") / 1024
            hwm = proc_status_kib(self.pid, "VmHWM")
            if hwm > self._hwm_before:  # a new lifetime peak: it happened during this run
                self.peak_mib = max(self.peak_mib, hwm / 1024)

    def summary(self) -> dict[str, float]:
        return {"rss_before_mib": self.before_mib, "rss_peak_mib": self.peak_mib,
                "rss_after_mib": self.after_mib, "rss_growth_mib": self.peak_mib
                - self.before_mib, "cpu_s": self.cpu_s, "samples": self.samples}


def find_pid(needle: str) -> int | None:
    """The process on this host whose command line holds ``needle`` (e.g. Jupyter's token),
    not counting a shell that started it."""
    for entry in sorted(Path("/proc").iterdir(), key=lambda e: e.name):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle.encode() in (entry / "cmdline").read_bytes() and \
                        (entry / "comm").read_text().strip() not in ("sh", "bash", "dash"):
                    return int(entry.name)
    return None


# ---- the Berth side ----------------------------------------------------------------------
def tus_raw(http: httpx.Client, folder: str, src: Path, dest: str, chunk: int) -> None:
    """tus by hand: create, then PATCH ``chunk`` bytes at a time streamed from the file."""
    size = src.stat().st_size
    meta = {"folder": folder, "path": dest, "filename": dest.rsplit("/", 1)[-1],
            "filetype": "application/octet-stream"}
    created = http.post("/api/uploads", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(size),
        "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                                    for k, v in meta.items())})
    if created.status_code != 201:
        raise RuntimeError(f"tus create: {created.status_code} {created.text[:300]}")
    url = created.headers["Location"]
    offset = 0
    while offset < size:
        n = min(chunk, size - offset)
        r = http.patch(url, content=file_blocks(src, offset, n), headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset), "Content-Length": str(n),
            "Content-Type": "application/offset+octet-stream"})
        if r.status_code != 204:
            raise RuntimeError(f"tus PATCH at {offset}: {r.status_code} {r.text[:300]}")
        offset = int(r.headers["Upload-Offset"])


# ---- the Jupyter side --------------------------------------------------------------------
@dataclass
class Jupyter:
    """One JupyterLab in a session: reachable directly (published port + token) and through
    Berth's app proxy (a browser-like client holding the proxy's permit cookie)."""

    direct: httpx.Client
    proxied: httpx.Client | None
    home: Path | None  # the kernel's /home/work on this host, when found
    pid: int | None  # the Jupyter server's pid on this host, when found

    def client(self, via_proxy: bool) -> httpx.Client:
        c = self.proxied if via_proxy else self.direct
        assert c is not None
        return c

    def close(self) -> None:
        self.direct.close()
        if self.proxied is not None:
            self.proxied.close()


def jupyter_upload(http: httpx.Client, src: Path, dest: str) -> None:
    """As JupyterLab's uploader: base64 chunks of 1 MiB, ``chunk`` 1.. and -1 for the last."""
    size = src.stat().st_size
    name = dest.rsplit("/", 1)[-1]
    with src.open("rb") as f:
        start = 0
        while True:
            end = start + JUPYTER_CHUNK
            last = end >= size
            data = f.read(JUPYTER_CHUNK)
            body = json.dumps({"type": "file", "format": "base64", "name": name,
                               "path": dest, "chunk": -1 if last else end // JUPYTER_CHUNK,
                               "content": base64.b64encode(data).decode()})
            r = http.put(f"/api/contents/{dest}", content=body,
                         headers={"Content-Type": "application/json"})
            if r.status_code not in (200, 201):
                raise RuntimeError(f"Jupyter PUT chunk at {start}: {r.status_code} "
                                   f"{r.text[:300]}")
            if last:
                return
            start = end


def stream_to(http: httpx.Client, url: str, dest: Path, **kwargs: Any) -> int:
    with http.stream("GET", url, **kwargs) as r:
        if r.status_code != 200:
            r.read()
            raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:300]}")
        count = 0
        with dest.open("wb") as out:
            for chunk in r.iter_raw():
                out.write(chunk)
                count += len(chunk)
    return count


def start_jupyter(cluster: Cluster, user: Client) -> tuple[str, Jupyter]:
    """An interactive session of ``user`` with JupyterLab open; (session id, Jupyter)."""
    [s] = user.create_session(type="interactive", image=IMAGE, resources=RESOURCES)
    session = wait_status(user, s["id"], "RUNNING", timeout=120)
    kernel = session["kernels"][0]
    ports = {p["name"]: p for p in kernel.get("app_ports") or []}
    if "jupyter" not in ports:
        raise LookupError(f"the image {IMAGE} has no jupyter app (apps: {sorted(ports)})")
    opened = user.open_app(session["id"], "jupyter")
    [(token,)] = cluster.sql("SELECT app_token FROM app_routes WHERE session_id = :s AND "
                             "app = 'jupyter'", s=session["id"])
    direct = httpx.Client(base_url=f"http://127.0.0.1:{ports['jupyter']['host_port']}",
                          headers={"Authorization": f"token {token}"}, timeout=TIMEOUT)

    def answers() -> bool:
        try:
            return direct.get("/api/status").status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(answers, 60, 0.3, what="JupyterLab to answer")
    proxied = httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    page = proxied.get(opened["url"])  # the one-time permit: sets the proxy's cookie
    if page.status_code != 200:
        raise RuntimeError(f"the Jupyter URL through the proxy answered {page.status_code}")
    proxied.base_url = httpx.URL(f"http://127.0.0.1:{opened['proxy_port']}")
    home = cluster.root / "scratch" / kernel["id"]
    return session["id"], Jupyter(direct, proxied, home if home.is_dir() else None,
                                  find_pid(token))


# ---- one measurement ---------------------------------------------------------------------
@dataclass
class Bench:
    cluster: Cluster
    user: Client
    folder_id: str
    folder_dir: Path
    scratch: Path
    src: Path
    src_sha: str
    size: int
    jupyter: Jupyter | None
    samples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def manager_pid(self) -> int:
        assert self.cluster.manager is not None
        return self.cluster.manager.pid

    def timed(self, direction: str, variant: str, action: Callable[[], Any],
              output: Path | None) -> None:
        """Run ``action`` once while watching the manager (and Jupyter); check ``output``'s
        SHA-256, then remove it."""
        jpid = self.jupyter.pid if self.jupyter else None
        with contextlib.ExitStack() as stack:
            manager = stack.enter_context(Watch(self.manager_pid))
            jwatch = stack.enter_context(Watch(jpid)) if jpid and "jupyter" in variant \
                else None
            t0, c0 = time.perf_counter(), time.process_time()
            action()
            seconds, client_cpu = time.perf_counter() - t0, time.process_time() - c0
        sample: dict[str, Any] = {"seconds": seconds, "mib_s": self.size / MiB / seconds,
                                  "client_cpu_s": client_cpu, "manager": manager.summary()}
        if jwatch is not None:
            sample["jupyter_cpu_s"] = jwatch.cpu_s
            sample["jupyter_rss_peak_mib"] = jwatch.peak_mib
        if output is not None:
            got = sha256_of(output)
            output.unlink()
            if got != self.src_sha:
                raise RuntimeError(f"{direction} {variant}: SHA-256 differs ({got})")
            sample["verified"] = True
        self.samples.setdefault(direction, {}).setdefault(variant, []).append(sample)
        print(f"    {direction:<8} {variant:<18} {seconds:7.2f} s {sample['mib_s']:8.1f} MiB/s"
              f"   manager +{manager.peak_mib - manager.before_mib:5.1f} MiB peak, "
              f"{manager.cpu_s:5.2f} s CPU; client {client_cpu:5.2f} s CPU", flush=True)

    def upload(self, variant: str) -> None:
        dest = f"up-{variant.replace(' ', '-')}.bin"
        if variant == "berth sdk":
            self.timed("upload", variant, lambda: self.user.upload(
                self.folder_id, self.src, dest), self.folder_dir / dest)
        elif variant == "berth raw":
            self.timed("upload", variant, lambda: tus_raw(
                self.user.http, self.folder_id, self.src, dest, RAW_PATCH),
                self.folder_dir / dest)
        elif variant == "cp":
            self.timed("upload", variant, lambda: shutil.copyfile(
                self.src, self.folder_dir / dest), self.folder_dir / dest)
        else:
            assert self.jupyter is not None
            http = self.jupyter.client(variant.endswith("proxy"))
            out = self.jupyter.home / dest if self.jupyter.home else None
            self.timed("upload", variant, lambda: jupyter_upload(http, self.src, dest), out)
            if out is None:  # the home is not visible here: remove it through Jupyter
                http.delete(f"/api/contents/{dest}")

    def download(self, variant: str) -> None:
        out = self.scratch / f"down-{variant.replace(' ', '-')}.bin"
        if variant == "berth sdk":
            self.timed("download", variant, lambda: self.user.download(
                self.folder_id, "down.bin", out), out)
        elif variant == "berth raw":  # the same client code as the Jupyter downloads
            self.timed("download", variant, lambda: stream_to(
                self.user.http, f"/api/folders/{self.folder_id}/download", out,
                params={"path": "down.bin"}), out)
        elif variant == "cp":
            self.timed("download", variant, lambda: shutil.copyfile(
                self.folder_dir / "down.bin", out), out)
        else:
            assert self.jupyter is not None
            http = self.jupyter.client(variant.endswith("proxy"))
            self.timed("download", variant, lambda: stream_to(http, "/files/down.bin", out), out)


def rotate(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def transfers(bench: Bench, rounds: int, uploads: list[str], downloads: list[str]) -> None:
    # What the downloads read, placed once (not timed).
    shutil.copyfile(bench.src, bench.folder_dir / "down.bin")
    if "jupyter" in downloads or "jupyter via proxy" in downloads:
        assert bench.jupyter is not None
        if bench.jupyter.home is not None:
            shutil.copyfile(bench.src, bench.jupyter.home / "down.bin")
        else:
            jupyter_upload(bench.jupyter.direct, bench.src, "down.bin")
    # Warm-up (not counted): a small upload and download, so that no first-use cost (imports,
    # the database's first write of a kind, the proxy's first connection) lands in round 1.
    small = bench.scratch / "warm.bin"
    small.write_bytes(os.urandom(MiB))
    bench.user.upload(bench.folder_id, small, "warm.bin")
    tus_raw(bench.user.http, bench.folder_id, small, "warm.bin", RAW_PATCH)
    bench.user.download(bench.folder_id, "warm.bin", bench.scratch / "warm-down.bin")
    if bench.jupyter is not None:
        for via_proxy in (False, True):
            http = bench.jupyter.client(via_proxy)
            jupyter_upload(http, small, "warm.bin")
            stream_to(http, "/files/warm.bin", bench.scratch / "warm-down.bin")
        bench.jupyter.direct.delete("/api/contents/warm.bin")
    for i in range(rounds):
        print(f"  round {i + 1}/{rounds}", flush=True)
        for variant in rotate(uploads, i):
            bench.upload(variant)
        for variant in rotate(downloads, i):
            bench.download(variant)


# ---- listing -----------------------------------------------------------------------------
def make_files(directory: Path, count: int) -> None:
    """``count`` empty files with names in no particular order (so sorting has work)."""
    for i in range(count):
        name = f"{secrets.token_hex(4)}-{i:06d}.dat"
        os.close(os.open(directory / name, os.O_CREAT | os.O_WRONLY, 0o644))


def scandir_page(directory: Path, with_stat: bool) -> list[tuple[str, int]]:
    """The in-process baseline: read the directory (d_type only, or an lstat of every
    entry), sort by name or by time, stat the first 100."""
    with os.scandir(directory) as it:
        if with_stat:
            rows = [(e.stat(follow_symlinks=False).st_mtime_ns, e.name) for e in it]
        else:
            rows = [(0, e.name) for e in it if not e.is_dir(follow_symlinks=False)]
    rows.sort()
    return [(n, os.lstat(directory / n).st_size) for _, n in rows[:100]]


def ls_page(directory: Path) -> None:
    subprocess.run(f"ls -l {directory} | head -n 101 > /dev/null", shell=True, check=True,
                   env={**os.environ, "LC_ALL": "C"})


def listing(bench: Bench, list_folder: str, list_dir: Path, count: int, rounds: int,
            runs: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    make_files(list_dir, count)
    made = time.perf_counter() - t0
    print(f"  made {count:,} empty files in {made:.1f} s", flush=True)

    def berth(sort: str) -> Callable[[], Any]:
        def call() -> None:
            page = bench.user.list_files(list_folder, "", sort=sort, limit=100)
            if page["total"] != count or len(page["entries"]) != min(100, count):
                raise RuntimeError(f"listing: total {page['total']}, "
                                   f"{len(page['entries'])} entries")
        return call

    variants: dict[str, Callable[[], Any]] = {
        "berth sort=name": berth("name"),
        "berth sort=modified": berth("modified"),
        "scandir d_type + sort": lambda: scandir_page(list_dir, False),
        "scandir + lstat + sort": lambda: scandir_page(list_dir, True),
        "ls -l | head": lambda: ls_page(list_dir),
    }
    idle = proc_status_kib(bench.manager_pid, "VmRSS") / 1024
    for call in variants.values():  # warm-up: directory and inode caches
        call()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    memory: dict[str, float] = {}
    after: dict[str, float] = {}
    for i in range(rounds):
        for name in rotate(list(variants), i):
            for _ in range(runs):
                with Watch(bench.manager_pid) as w:
                    t = time.perf_counter()
                    variants[name]()
                    samples[name].append(time.perf_counter() - t)
                if name.startswith("berth"):
                    memory[name] = max(memory.get(name, 0.0), w.peak_mib - w.before_mib)
                    after[name] = w.after_mib
        print(f"  round {i + 1}/{rounds}: " + "  ".join(
            f"{n} {statistics.median(s[-runs:]) * 1000:.0f} ms" for n, s in samples.items()),
            flush=True)
    return {"files": count, "make_seconds": made, "runs_per_round": runs, "samples": samples,
            "stats": {n: stats(s) for n, s in samples.items()},
            "manager_rss_growth_mib": memory, "manager_rss_before_mib": idle,
            "manager_rss_after_mib": after}


# ---- reporting ---------------------------------------------------------------------------
def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "mean": statistics.fmean(values)}


def summarise(samples: dict[str, dict[str, list[dict[str, Any]]]], size: int
              ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for direction, by_variant in samples.items():
        for variant, runs in by_variant.items():
            seconds = [r["seconds"] for r in runs]
            out.setdefault(direction, {})[variant] = {
                "seconds": stats(seconds),
                "mib_s_of_median": size / MiB / statistics.median(seconds),
                "manager_rss_growth_mib_max": max(r["manager"]["rss_growth_mib"] for r in runs),
                "manager_rss_peak_mib_max": max(r["manager"]["rss_peak_mib"] for r in runs),
                "manager_cpu_s_median": statistics.median(r["manager"]["cpu_s"] for r in runs),
                "client_cpu_s_median": statistics.median(r["client_cpu_s"] for r in runs),
                **({"jupyter_cpu_s_median": statistics.median(r["jupyter_cpu_s"] for r in runs)}
                   if "jupyter_cpu_s" in runs[0] else {}),
            }
    return out


def report(results: dict[str, Any]) -> None:
    size = results["size"]
    summary = results["transfers"]
    print(f"\nTransfers of one {human(size)} file ({results['rounds']} rounds; medians; "
          "ratio = time / time of cp; manager: largest RSS growth over its size just before, "
          "and its CPU time)")
    print(f"{'operation':<30}{'median s':>9}{'MiB/s':>8}{'min-max s':>14}{'vs cp':>8}"
          f"{'mgr +MiB':>10}{'mgr CPU s':>10}{'Jupyter CPU s':>14}{'client CPU s':>13}")
    for direction in ("upload", "download"):
        variants = summary.get(direction, {})
        cp = variants.get("cp", {}).get("seconds", {}).get("median")
        for variant, s in variants.items():
            t = s["seconds"]
            ratio = f"{t['median'] / cp:.2f}x" if cp else "-"
            jcpu = s.get("jupyter_cpu_s_median")
            print(f"{direction + ' ' + variant:<30}{t['median']:>9.2f}{s['mib_s_of_median']:>8.0f}"
                  f"{t['min']:>7.2f}-{t['max']:<6.2f}{ratio:>8}"
                  f"{s['manager_rss_growth_mib_max']:>10.1f}{s['manager_cpu_s_median']:>10.2f}"
                  f"{(f'{jcpu:.2f}' if jcpu is not None else '-'):>14}"
                  f"{s['client_cpu_s_median']:>13.2f}")
    for direction, berth in (("upload", "berth sdk"), ("upload", "berth raw"),
                             ("download", "berth sdk"), ("download", "berth raw")):
        variants = summary.get(direction, {})
        if berth in variants and "jupyter" in variants:
            b = variants[berth]["seconds"]["median"]
            j = variants["jupyter"]["seconds"]["median"]
            line = f"  {direction}: Berth ({berth}) takes {b / j:.2f}x the time of Jupyter directly"
            if "jupyter via proxy" in variants:
                line += (f", {b / variants['jupyter via proxy']['seconds']['median']:.2f}x "
                         "that of Jupyter through the proxy")
            print(line)
    mem = results["manager_memory"]
    verdict = "OK" if mem["growth_mib"] < MEMORY_AIM_MIB else "OVER"
    print(f"\nManager memory: idle {mem['idle_mib']:.1f} MiB; peak during Berth transfers "
          f"{mem['peak_mib']:.1f} MiB (+{mem['growth_mib']:.1f} MiB; aim < {MEMORY_AIM_MIB} "
          f"MiB over idle: {verdict}); after all transfers {mem['after_mib']:.1f} MiB")
    lst = results.get("listing")
    if lst:
        st = lst["stats"]
        print(f"\nFirst page (100) of a folder of {lst['files']:,} files "
              f"({results['rounds']} rounds x {lst['runs_per_round']} runs; medians)")
        print(f"{'operation':<26}{'median ms':>10}{'min-max ms':>16}{'Berth/baseline':>16}"
              f"{'mgr +MiB':>10}")
        base = {"berth sort=name": "scandir d_type + sort",
                "berth sort=modified": "scandir + lstat + sort"}
        for name, s in st.items():
            ratio = f"{s['median'] / st[base[name]]['median']:.2f}x" if name in base else ""
            grow = lst["manager_rss_growth_mib"].get(name)
            print(f"{name:<26}{s['median'] * 1000:>10.1f}"
                  f"{s['min'] * 1000:>8.1f}-{s['max'] * 1000:<7.1f}{ratio:>16}"
                  f"{(f'{grow:.1f}' if grow is not None else ''):>10}")
        print(f"  (manager RSS {lst['manager_rss_before_mib']:.1f} MiB before the listings, "
              + ", ".join(f"{v:.1f} MiB after the last {k}"
                          for k, v in lst["manager_rss_after_mib"].items()) + ")")


# ---- the run -----------------------------------------------------------------------------
def run(cluster: Cluster, args: argparse.Namespace, results: dict[str, Any]) -> None:
    user = cluster.user()
    folder = user.create_folder("bench")
    list_folder = user.create_folder("bench-list")
    storage = cluster.root / "storage" / "folders"
    folder_dir, list_dir = storage / folder["id"], storage / list_folder["id"]
    scratch = cluster.root / "bench"
    scratch.mkdir()
    src = scratch / "source.bin"
    print(f"Writing {human(args.size)} of random bytes ... ", end="", flush=True)
    src_sha = make_source(src, args.size)
    print("done", flush=True)

    session_id = None
    jupyter: Jupyter | None = None
    uploads, downloads = UPLOADS[:3], DOWNLOADS[:3]
    if not args.skip_jupyter:
        print("Starting a session with JupyterLab ... ", end="", flush=True)
        try:
            session_id, jupyter = start_jupyter(cluster, user)
        except LookupError as e:
            print(f"not available: {e}")
            results["jupyter_unavailable"] = str(e)
        else:
            print(f"up (its home {'found' if jupyter.home else 'NOT found'} on this host, "
                  f"server pid {jupyter.pid})", flush=True)
            keep = ["jupyter"] + ([] if args.skip_proxy else ["jupyter via proxy"])
            uploads, downloads = uploads + keep, downloads + keep
    try:
        user.list_files(folder["id"])  # the manager has served a request of each kind
        time.sleep(1)
        idle = proc_status_kib(cluster.manager.pid, "VmRSS") / 1024  # type: ignore[union-attr]
        bench = Bench(cluster, user, folder["id"], folder_dir, scratch, src, src_sha,
                      args.size, jupyter)
        print(f"Transfers (manager idle at {idle:.1f} MiB):", flush=True)
        transfers(bench, args.rounds, uploads, downloads)
        results["samples"] = bench.samples
        results["transfers"] = summarise(bench.samples, args.size)
        berth_runs = [r for d, by in bench.samples.items() for v, runs in by.items()
                      if v.startswith("berth") for r in runs]
        peak = max(r["manager"]["rss_peak_mib"] for r in berth_runs)
        results["manager_memory"] = {
            "idle_mib": idle, "peak_mib": peak, "growth_mib": peak - idle,
            "after_mib": proc_status_kib(cluster.manager.pid, "VmRSS") / 1024,  # type: ignore[union-attr]
            "aim_mib": MEMORY_AIM_MIB,
        }
        for leftover in (folder_dir / "down.bin", src):
            leftover.unlink(missing_ok=True)
        if args.files:
            print(f"Listing ({args.files:,} files):", flush=True)
            results["listing"] = listing(bench, list_folder["id"], list_dir, args.files,
                                         args.rounds, args.list_runs)
    finally:
        if jupyter is not None:
            jupyter.close()
        if session_id is not None:
            with contextlib.suppress(Exception):
                user.terminate_session(session_id, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=GiB,
                        help="of the file moved (default 1GiB; e.g. 64MiB for a quick check)")
    parser.add_argument("--files", type=int, default=100_000,
                        help="files in the listed folder (0: skip the listing)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--list-runs", type=int, default=5, help="listings per variant and round")
    parser.add_argument("--skip-jupyter", action="store_true",
                        help="no session: Berth against cp only")
    parser.add_argument("--skip-proxy", action="store_true",
                        help="Jupyter directly only, not also through Berth's app proxy")
    args = parser.parse_args()
    if args.size < 1 or args.rounds < 1 or args.files < 0 or args.list_runs < 1:
        parser.error("--size, --rounds and --list-runs must be positive, --files not negative")
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out_dir = ROOT / "benchmarks" / "results"
    print("Starting a Berth cluster (SQLite) ... ", end="", flush=True)
    # The product's loop settings, so that the manager is not busier than a real one.
    cluster = Cluster(
        db="sqlite",
        agent_env={"BERTH_AGENT_HEARTBEAT_INTERVAL": "5"},
        manager_env={"BERTH_SCHEDULE_INTERVAL": "2.0", "BERTH_HEARTBEAT_TIMEOUT": "30"},
    ).start()
    print(f"up at {cluster.url} (data in {cluster.root})", flush=True)
    results: dict[str, Any] = {"size": args.size, "rounds": args.rounds}
    try:
        run(cluster, args, results)
    except BaseException:
        out_dir.mkdir(parents=True, exist_ok=True)
        for what in ("manager", "agent"):  # keep the logs of a failed run for diagnosis
            with contextlib.suppress(OSError):
                shutil.copy(cluster.root / f"{what}.log", out_dir / f"storage-{stamp}-{what}.log")
        print(f"\nFailed; the cluster's logs are in benchmarks/results/storage-{stamp}-*.log")
        raise
    finally:
        cluster.close()  # ends the session, removes its container and the cluster's files
    results["meta"] = {
        "started": started.isoformat(), "image": IMAGE, "resources": RESOURCES,
        "jupyter_chunk": JUPYTER_CHUNK, "raw_patch": RAW_PATCH,
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip(),
        "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average": os.getloadavg(), "seconds": (datetime.now(UTC) - started).total_seconds(),
    }
    report(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"storage-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
