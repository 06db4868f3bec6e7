"""berth.agent.usage without an engine: the parsers (malformed and huge input included), the
arithmetic of samples (percent of a core, rates, resets), where cgroups are, and the reader
and tracker over a fake cgroup tree and a fake /proc in a temporary directory (hostile
files: links, oversized files, a reused pid)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

import pytest

from berth.agent.accelerators.base import KernelStats
from berth.agent.usage import (
    CgroupReader,
    ContainerInfo,
    KernelHandle,
    UsageTracker,
)
from berth.agent.usage_parse import (
    NET_DEV_READ_LIMIT,
    CgroupLayout,
    Counters,
    Sample,
    cgroup_candidates,
    cpu_percent,
    derive,
    layout_from_mounts,
    parse_blkio,
    parse_counter,
    parse_cpu_stat,
    parse_io_stat,
    parse_limit,
    parse_net_dev,
    rate,
)

CID = "a" * 64
OTHER = "b" * 64
NET_HEADER = ("Inter-|   Receive                                                |  Transmit\n"
              " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
              "errs drop fifo colls carrier compressed\n")


def net_line(name: str, rx: int, tx: int) -> str:
    return f"{name:>6}: {rx} 1 0 0 0 0 0 0 {tx} 1 0 0 0 0 0 0\n"


# ---- parsers -------------------------------------------------------------------------------

def test_parse_counter_accepts_only_plain_counters() -> None:
    assert parse_counter(" 42\n") == 42
    assert parse_counter("18446744073709551615") == 2**64 - 1
    for bad in ("", "-1", "+1", "1 2", "1e9", "max", "٣", "9" * 21, "9" * 100_000):
        assert parse_counter(bad) is None, bad


def test_parse_limit() -> None:
    assert parse_limit("1073741824\n") == 2**30
    assert parse_limit("max\n") is None
    assert parse_limit("9223372036854771712\n") is None  # v1's "no limit"
    assert parse_limit("garbage") is None


def test_parse_cpu_stat() -> None:
    text = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\n"
    assert parse_cpu_stat(text) == 1234567
    assert parse_cpu_stat("user_usec 5\n") is None
    assert parse_cpu_stat("usage_usec -5\n") is None
    assert parse_cpu_stat("usage_usec\n" + "x" * 10_000) is None


def test_parse_io_stat_sums_devices_and_skips_junk() -> None:
    text = ("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
            "8:16 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
            "253:0 rbytes=oops wbytes=-3 =7 rbytes\n"
            "garbage\n")
    assert parse_io_stat(text) == (1100, 2200)
    assert parse_io_stat("") == (0, 0)


def test_parse_blkio_skips_totals_and_junk() -> None:
    text = ("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Async 2\n8:0 Total 12288\n"
            "8:16 Read 1\n8:16 Write x\nTotal 12289\nRead 5 5\n")
    assert parse_blkio(text) == (4097, 8192)
    assert parse_blkio("Total 0\n") == (0, 0)


def test_parse_net_dev_sums_all_but_loopback() -> None:
    text = NET_HEADER + net_line("lo", 999, 999) + net_line("eth0", 100, 10) + net_line(
        "eth1", 5, 7)
    assert parse_net_dev(text) == (105, 17)
    assert parse_net_dev(NET_HEADER + net_line("lo", 3, 3)) == (0, 0)


def test_parse_net_dev_malformed() -> None:
    assert parse_net_dev("") is None
    assert parse_net_dev(NET_HEADER) is None
    assert parse_net_dev("eth0: 1 2 3\n") is None  # too few fields
    assert parse_net_dev("eth0: x 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n") is None
    junk = "\n".join(["::::", "a:b:c", "\x00\xff"] * 100)
    assert parse_net_dev(junk + net_line("eth0", 1, 2)) == (1, 2)


# ---- arithmetic ----------------------------------------------------------------------------

def test_cpu_percent_is_percent_of_one_core() -> None:
    assert cpu_percent(0, 5_000_000, 5.0) == pytest.approx(100.0)
    assert cpu_percent(1_000_000, 11_000_000, 5.0) == pytest.approx(200.0)  # two busy cores
    assert cpu_percent(7, 7, 5.0) == 0.0


def test_rate_resets_and_unknowns() -> None:
    assert rate(100, 600, 5.0) == pytest.approx(100.0)
    assert rate(600, 100, 5.0) is None  # reset: nothing known about the interval
    assert rate(None, 100, 5.0) is None
    assert rate(100, None, 5.0) is None
    assert rate(100, 200, 0.0) is None


def test_derive() -> None:
    first = Counters(10.0, 1000.0, cpu_usec=1_000_000, mem_bytes=50, mem_limit=100,
                     io_read=0, io_write=0, net_rx=0, net_tx=0)
    s = derive(None, first)
    assert (s.at, s.cpu_percent, s.mem_bytes, s.mem_limit, s.net_rx) == (1000.0, None, 50, 100, 0)
    assert s.net_rx_rate is None
    second = Counters(12.0, 1002.0, cpu_usec=2_000_000, mem_bytes=60, mem_limit=100,
                      io_read=4000, io_write=2000, net_rx=200, net_tx=100)
    s = derive(first, second, KernelStats("k", 30.0, 1234))
    assert s.cpu_percent == pytest.approx(50.0)
    assert (s.io_read_rate, s.io_write_rate, s.net_rx_rate, s.net_tx_rate) == (
        2000.0, 1000.0, 100.0, 50.0)
    assert (s.accel_percent, s.accel_mem_bytes) == (30.0, 1234)
    restarted = Counters(14.0, 1004.0, cpu_usec=10, net_rx=1, net_tx=0)
    s = derive(second, restarted)
    assert s.cpu_percent is None and s.net_rx_rate is None and s.mem_bytes is None
    assert Sample(**s.to_json()) == s


# ---- where cgroups are ---------------------------------------------------------------------

def test_layout_v2_only() -> None:
    mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
    p = Path("/sys/fs/cgroup")
    assert layout_from_mounts(mounts) == CgroupLayout(2, p, p, p)


def test_layout_v1_and_hybrid_prefer_v1_controllers() -> None:
    mounts = ("tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
              "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
              "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\n"
              "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
              "cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0\n")
    assert layout_from_mounts(mounts) == CgroupLayout(
        1, Path("/sys/fs/cgroup/cpu,cpuacct"), Path("/sys/fs/cgroup/memory"),
        Path("/sys/fs/cgroup/blkio"))


def test_layout_none_and_escapes() -> None:
    assert layout_from_mounts("proc /proc proc rw 0 0\n") is None
    assert layout_from_mounts("") is None
    odd = "cgroup2 /mnt/my\\040cgroups cgroup2 rw 0 0\nshort line\n"
    layout = layout_from_mounts(odd)
    assert layout is not None and layout.memory == Path("/mnt/my cgroups")


def test_cgroup_candidates() -> None:
    assert cgroup_candidates(CID) == [f"docker/{CID}", f"system.slice/docker-{CID}.scope"]
    assert cgroup_candidates(CID, "/berth") == [f"berth/{CID}"]
    assert cgroup_candidates(CID, "berth-kernels.slice") == [
        f"berth.slice/berth-kernels.slice/docker-{CID}.scope"]
    for bad_id in ("abc", CID.upper(), "../" + CID[3:], CID + "\n"):
        with pytest.raises(ValueError):
            cgroup_candidates(bad_id)
    for bad_parent in ("../../etc", "/a/../b", "a b", "a\nb"):
        with pytest.raises(ValueError):
            cgroup_candidates(CID, bad_parent)


# ---- the reader over a fake tree -----------------------------------------------------------

class FakeHost:
    """A cgroup v2 (or v1) tree and a /proc under ``root``, written the way the kernel
    writes them."""

    def __init__(self, root: Path, version: int = 2) -> None:
        self.root = root
        self.version = version
        self.proc = root / "proc"
        (self.proc / "self" / "ns").mkdir(parents=True)
        (self.proc / "self" / "ns" / "net").write_text("host netns")
        if version == 2:
            cg = root / "cgroup"
            self.layout = CgroupLayout(2, cg, cg, cg)
        else:
            self.layout = CgroupLayout(1, root / "cpuacct", root / "memory", root / "blkio")

    def cgroup(self, cid: str = CID, cpu_usec: int = 0, mem: int = 0, limit: str = "max",
               rbytes: int = 0, wbytes: int = 0) -> None:
        assert self.layout.cpu and self.layout.memory and self.layout.io
        if self.version == 2:
            d = self.layout.cpu / "docker" / cid
            d.mkdir(parents=True, exist_ok=True)
            (d / "cpu.stat").write_text(f"usage_usec {cpu_usec}\nuser_usec 0\nsystem_usec 0\n")
            (d / "memory.current").write_text(f"{mem}\n")
            (d / "memory.max").write_text(f"{limit}\n")
            (d / "io.stat").write_text(f"8:0 rbytes={rbytes} wbytes={wbytes} rios=1 wios=1\n")
            return
        for root in (self.layout.cpu, self.layout.memory, self.layout.io):
            (root / "system.slice" / f"docker-{cid}.scope").mkdir(parents=True, exist_ok=True)
        (self.layout.cpu / "system.slice" / f"docker-{cid}.scope" / "cpuacct.usage").write_text(
            f"{cpu_usec * 1000}\n")
        mem_dir = self.layout.memory / "system.slice" / f"docker-{cid}.scope"
        (mem_dir / "memory.usage_in_bytes").write_text(f"{mem}\n")
        (mem_dir / "memory.limit_in_bytes").write_text(
            "9223372036854771712\n" if limit == "max" else f"{limit}\n")
        (self.layout.io / "system.slice" / f"docker-{cid}.scope" /
         "blkio.throttle.io_service_bytes_recursive").write_text(
            f"8:0 Read {rbytes}\n8:0 Write {wbytes}\n8:0 Total {rbytes + wbytes}\nTotal 0\n")

    def process(self, pid: int, cid: str = CID, rx: int = 0, tx: int = 0,
                netns: str = "own") -> Path:
        d = self.proc / str(pid)
        (d / "net").mkdir(parents=True, exist_ok=True)
        (d / "ns").mkdir(exist_ok=True)
        (d / "cgroup").write_text(f"0::/docker/{cid}\n")
        self.net(pid, rx, tx)
        ns = d / "ns" / "net"
        ns.unlink(missing_ok=True)
        if netns == "host":
            os.link(self.proc / "self" / "ns" / "net", ns)  # same inode: the host's network
        else:
            ns.write_text(netns)
        return d

    def net(self, pid: int, rx: int, tx: int) -> None:
        (self.proc / str(pid) / "net" / "dev").write_text(
            NET_HEADER + net_line("lo", 10**9, 10**9) + net_line("eth0", rx, tx))

    def reader(self) -> CgroupReader:
        return CgroupReader(self.layout, self.proc)


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path, request.param)


def test_reader_reads_every_figure(host: FakeHost) -> None:
    host.cgroup(cpu_usec=123_456, mem=5 << 20, limit=str(1 << 30), rbytes=7, wbytes=9)
    host.process(4242, rx=300, tx=400)
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    try:
        assert not handle.stale
        c = reader.read(handle, clock=lambda: 1.0, wall=lambda: 2.0)
        assert c == Counters(1.0, 2.0, 123_456, 5 << 20, 1 << 30, 7, 9, 300, 400)
    finally:
        reader.close(handle)
    assert handle.proc_fd is None
    reader.close(handle)  # idempotent


def test_reader_unknown_container_is_stale_and_all_none(host: FakeHost) -> None:
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 0))
    assert handle.stale and handle.cpu_dir is None and handle.proc_fd is None
    c = reader.read(handle)
    assert (c.cpu_usec, c.mem_bytes, c.io_read, c.net_rx) == (None, None, None, None)


def test_reader_vanished_files_mark_stale_without_raising(host: FakeHost) -> None:
    host.cgroup(cpu_usec=1)
    proc_dir = host.process(4242, rx=1, tx=1)
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    try:
        assert reader.read(handle).cpu_usec == 1
        for root in {host.layout.cpu, host.layout.memory, host.layout.io}:
            assert root is not None
            for path in sorted(root.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        for path in sorted(proc_dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        proc_dir.rmdir()
        c = reader.read(handle)
        assert (c.cpu_usec, c.mem_bytes, c.mem_limit, c.io_read, c.net_rx) == (
            None, None, None, None, None)
        assert handle.stale
    finally:
        reader.close(handle)


def test_reader_never_follows_a_link(host: FakeHost, tmp_path: Path) -> None:
    host.cgroup(mem=1)
    host.process(4242)
    secret = tmp_path / "secret"
    secret.write_text("31337\n")
    assert host.layout.memory is not None
    mem_dir = next(p for p in host.layout.memory.rglob("*") if p.name.startswith(
        ("docker-", CID)) and p.is_dir())
    name = "memory.current" if host.version == 2 else "memory.usage_in_bytes"
    (mem_dir / name).unlink()
    (mem_dir / name).symlink_to(secret)
    net_dev = host.proc / "4242" / "net" / "dev"
    net_dev.unlink()
    net_dev.symlink_to(secret)
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    try:
        c = reader.read(handle)
        assert c.mem_bytes is None and c.net_rx is None
        assert c.cpu_usec == 0  # the rest is still read
    finally:
        reader.close(handle)


def test_reader_refuses_oversized_net_dev_and_warns_once(
        host: FakeHost, caplog: pytest.LogCaptureFixture) -> None:
    host.cgroup()
    host.process(4242)
    lines = [net_line(f"d{i}", 1, 1) for i in range(NET_DEV_READ_LIMIT // 40)]
    (host.proc / "4242" / "net" / "dev").write_text(NET_HEADER + "".join(lines))
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    try:
        with caplog.at_level(logging.WARNING, logger="berth.agent.usage"):
            for _ in range(3):
                c = reader.read(handle)
                assert c.net_rx is None and c.net_tx is None and c.cpu_usec == 0
        assert not handle.stale  # the container is there; its file is just refused
        assert len([r for r in caplog.records if "net/dev is over" in r.message]) == 1
    finally:
        reader.close(handle)


def test_reader_refuses_a_pid_of_another_container(host: FakeHost) -> None:
    host.cgroup()
    host.process(4242, cid=OTHER, rx=5, tx=5)  # the pid was reused by someone else
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    assert handle.proc_fd is None and handle.stale
    assert reader.read(handle).net_rx is None


def test_reader_keeps_reading_the_process_it_opened(host: FakeHost, tmp_path: Path) -> None:
    """The descriptor, not the path: a new /proc/<pid> under the same number is not read."""
    host.cgroup()
    host.process(4242, rx=5, tx=5)
    reader = host.reader()
    handle = reader.open(ContainerInfo(CID, 4242))
    try:
        assert reader.read(handle).net_rx == 5
        (host.proc / "4242").rename(tmp_path / "gone")
        host.process(4242, rx=999, tx=999)
        assert reader.read(handle).net_rx == 5
    finally:
        reader.close(handle)


def test_reader_skips_the_hosts_network(host: FakeHost) -> None:
    host.cgroup()
    host.process(4242, rx=5, tx=5, netns="host")
    host.process(4343, cid=OTHER, rx=5, tx=5)
    host.cgroup(OTHER)
    reader = host.reader()
    on_host = reader.open(ContainerInfo(CID, 4242))
    by_mode = reader.open(ContainerInfo(OTHER, 4343, network_mode=f"container:{CID}"))
    try:
        assert on_host.net_shared and reader.read(on_host).net_rx is None
        assert by_mode.net_shared and reader.read(by_mode).net_rx is None
    finally:
        reader.close(on_host)
        reader.close(by_mode)


def test_reader_rejects_ids_that_are_not_the_engines(host: FakeHost) -> None:
    with pytest.raises(ValueError):
        host.reader().open(ContainerInfo("../../../etc", 1))


# ---- the tracker ---------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Inspector:
    def __init__(self, infos: dict[str, ContainerInfo | None]) -> None:
        self.infos = infos
        self.calls: list[str] = []
        self.fail = False

    async def __call__(self, ref: str) -> ContainerInfo | None:
        self.calls.append(ref)
        if self.fail:
            raise RuntimeError("engine down")
        return self.infos.get(ref)


def tracker(host: FakeHost, inspector: Inspector, clock: Clock, **kw: object) -> UsageTracker:
    return UsageTracker(inspector, host.reader(), clock=clock, wall=clock, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("in_thread", [True, False])
async def test_tracker_percent_rates_and_window(host: FakeHost, in_thread: bool) -> None:
    host.cgroup(cpu_usec=0, mem=10)
    host.process(4242, rx=0, tx=0)
    clock, inspector = Clock(), Inspector({"c1": ContainerInfo(CID, 4242)})
    t = tracker(host, inspector, clock, window=3, in_thread=in_thread)
    try:
        first = (await t.sample_all({"k1": "c1"}))["k1"]
        assert first.cpu_percent is None and first.mem_bytes == 10
        for i in range(1, 6):
            clock.now += 5
            host.cgroup(cpu_usec=i * 10_000_000, mem=10 + i)  # two busy cores
            host.net(4242, rx=i * 5000, tx=i * 500)
            s = (await t.sample_all({"k1": "c1"}))["k1"]
            assert s.cpu_percent == pytest.approx(200.0)
            assert (s.net_rx_rate, s.net_tx_rate) == (1000.0, 100.0)
        window = t.window("k1")
        assert len(window) == 3 and [s.mem_bytes for s in window] == [13, 14, 15]
        assert t.latest("k1") == window[-1]
        assert inspector.calls == ["c1"]  # inspected once, then only files are read
    finally:
        t.close()


async def test_tracker_counter_reset_gives_unknown_then_resumes(host: FakeHost) -> None:
    host.cgroup(cpu_usec=50_000_000)
    host.process(4242)
    clock = Clock()
    t = tracker(host, Inspector({"c1": ContainerInfo(CID, 4242)}), clock)
    try:
        await t.sample_all({"k1": "c1"})
        clock.now += 5
        host.cgroup(cpu_usec=1_000)  # restarted: the counter starts again
        assert (await t.sample_all({"k1": "c1"}))["k1"].cpu_percent is None
        clock.now += 5
        host.cgroup(cpu_usec=2_501_000)
        assert (await t.sample_all({"k1": "c1"}))["k1"].cpu_percent == pytest.approx(50.0)
    finally:
        t.close()


async def test_tracker_vanished_container_reinspected_after_interval(host: FakeHost) -> None:
    host.cgroup(cpu_usec=1)
    host.process(4242)
    clock = Clock()
    inspector = Inspector({"c1": ContainerInfo(CID, 4242)})
    t = tracker(host, inspector, clock, reinspect_interval=10.0)
    try:
        await t.sample_all({"k1": "c1"})
        assert host.layout.cpu is not None
        name = "cpu.stat" if host.version == 2 else "cpuacct.usage"
        next(host.layout.cpu.rglob(name)).unlink()  # the container stopped
        inspector.infos["c1"] = ContainerInfo(CID, 0)
        clock.now += 5
        gone = (await t.sample_all({"k1": "c1"}))["k1"]
        assert gone.cpu_percent is None
        assert inspector.calls == ["c1"]
        clock.now += 5  # 10 s after the first inspect: once again
        await t.sample_all({"k1": "c1"})
        clock.now += 1
        await t.sample_all({"k1": "c1"})
        assert inspector.calls == ["c1", "c1"]
        host.cgroup(cpu_usec=7)  # started again, new pid
        host.process(5151, rx=3, tx=4)
        inspector.infos["c1"] = ContainerInfo(CID, 5151)
        clock.now += 10
        back = (await t.sample_all({"k1": "c1"}))["k1"]
        assert back.net_rx == 3 and back.cpu_percent is None  # counter restarted
    finally:
        t.close()


async def test_tracker_inspect_failure_and_unknown_container(
        host: FakeHost, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    inspector = Inspector({})
    inspector.fail = True
    t = tracker(host, inspector, clock)
    with caplog.at_level(logging.WARNING, logger="berth.agent.usage"):
        out = await t.sample_all({"k1": "c1", "k2": "c2"})
    assert set(out) == {"k1", "k2"}
    assert all(s.cpu_percent is None and s.mem_bytes is None for s in out.values())
    assert "inspect of c1 failed: engine down" in caplog.text
    inspector.fail = False
    out = await t.sample_all({"k1": "c1"})  # unknown to the engine: all None, no raise
    assert out["k1"].mem_bytes is None


async def test_tracker_accelerators_and_new_container_for_kernel(host: FakeHost) -> None:
    host.cgroup(cpu_usec=0, mem=1)
    host.cgroup(OTHER, cpu_usec=0, mem=2)
    host.process(4242)
    host.process(4343, cid=OTHER)
    clock = Clock()
    inspector = Inspector({"c1": ContainerInfo(CID, 4242), "c2": ContainerInfo(OTHER, 4343)})
    t = tracker(host, inspector, clock)
    try:
        s = (await t.sample_all({"k1": "c1"}, {"k1": KernelStats("k1", 75.0, 2048)}))["k1"]
        assert (s.accel_percent, s.accel_mem_bytes, s.mem_bytes) == (75.0, 2048, 1)
        s = (await t.sample_all({"k1": "c2"}))["k1"]  # the kernel's container was replaced
        assert s.mem_bytes == 2 and s.cpu_percent is None and s.accel_percent is None
        assert len(t.window("k1")) == 1
    finally:
        t.close()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


async def test_tracker_forget_releases(host: FakeHost) -> None:
    host.cgroup()
    host.process(4242)
    t = tracker(host, Inspector({"c1": ContainerInfo(CID, 4242)}), Clock())
    await t.sample_all({"k1": "c1"})
    fd = t._kernels["k1"].handle.proc_fd  # type: ignore[union-attr]
    assert fd is not None and _is_open(fd)
    t.forget("k1")
    t.forget("k1")
    assert not _is_open(fd)
    assert t.window("k1") == [] and t.latest("k1") is None and t.kernels() == []


class BlockingReader(CgroupReader):
    """Holds the worker thread inside :meth:`read` until told to go on."""

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host.layout, host.proc)
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.block = False

    def read(self, handle: KernelHandle, *args: object, **kw: object) -> Counters:
        if self.block:
            self.entered.set()
            assert self.go_on.wait(10)
        return super().read(handle, *args, **kw)  # type: ignore[arg-type]


async def test_tracker_forget_during_a_threaded_read_closes_after_it(host: FakeHost) -> None:
    host.cgroup()
    host.process(4242)
    reader = BlockingReader(host)
    t = UsageTracker(Inspector({"c1": ContainerInfo(CID, 4242)}), reader, in_thread=True)
    await t.sample_all({"k1": "c1"})
    fd = t._kernels["k1"].handle.proc_fd  # type: ignore[union-attr]
    assert fd is not None
    reader.block = True
    task = asyncio.create_task(t.sample_all({"k1": "c1"}))
    try:
        assert await asyncio.to_thread(reader.entered.wait, 10)
        t.forget("k1")
        assert _is_open(fd)  # the worker may still use it
    finally:
        reader.go_on.set()
    out = await task
    assert "k1" in out and not _is_open(fd)
    assert t.kernels() == [] and t.window("k1") == []


def test_tracker_window_must_hold_a_sample(host: FakeHost) -> None:
    with pytest.raises(ValueError):
        UsageTracker(Inspector({}), host.reader(), window=0)


async def test_tracker_forget_during_inspect(host: FakeHost) -> None:
    host.cgroup()
    host.process(4242)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_inspect(ref: str) -> ContainerInfo:
        entered.set()
        await release.wait()
        return ContainerInfo(CID, 4242)

    t = UsageTracker(slow_inspect, host.reader())
    task = asyncio.create_task(t.sample_all({"k1": "c1"}))
    await entered.wait()
    t.forget("k1")
    release.set()
    out = await task
    assert out["k1"].cpu_percent is None  # sampled, but not kept
    assert t.kernels() == [] and t.window("k1") == []


async def test_tracker_cancelled_during_a_threaded_read_waits_for_the_thread(
        host: FakeHost) -> None:
    host.cgroup()
    host.process(4242)
    reader = BlockingReader(host)
    t = UsageTracker(Inspector({"c1": ContainerInfo(CID, 4242)}), reader, in_thread=True)
    await t.sample_all({"k1": "c1"})
    fd = t._kernels["k1"].handle.proc_fd  # type: ignore[union-attr]
    assert fd is not None
    reader.block = True
    task = asyncio.create_task(t.sample_all({"k1": "c1"}))
    try:
        assert await asyncio.to_thread(reader.entered.wait, 10)
        t.forget("k1")
        task.cancel()
        await asyncio.sleep(0)  # let the cancellation reach the task (it must keep waiting)
        assert not task.done() and _is_open(fd)
    finally:
        reader.go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _is_open(fd)
