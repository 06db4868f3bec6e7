"""The manager's live-usage store (services/live_usage.LiveUsage), its API views
(services/usage_out) and the agent's sampling loop (agent/usage_loop) with stand-ins."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from berth.agent.accelerators.base import AcceleratorStats, DeviceStats, KernelStats
from berth.agent.devices import kernel_use
from berth.agent.usage_loop import UsageLoop, to_wire
from berth.agent.usage_parse import Sample
from berth.domain.devices import Allocation, Device
from berth.manager.services import live_usage as lu
from berth.manager.services.live_usage import LiveUsage
from berth.manager.services.usage_out import samples_in, session_usage, summary
from berth.rpc import UsageReply, UsageReport

T0 = 1_699_999_200.0  # a whole hour: buckets start at T0


def s(at: float, cpu: float | None = 50.0, mem: int | None = 2**29,
      limit: int | None = 2**30, **more: object) -> Sample:
    return Sample(at=T0 + at, cpu_percent=cpu, mem_bytes=mem, mem_limit=limit, net_rx=0,
                  net_tx=0, io_read=0, io_write=0, **more)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def when(at: float) -> datetime:
    return datetime.fromtimestamp(T0 + at, UTC)


# ---- the store -------------------------------------------------------------------------------

def test_record_orders_and_ignores_what_it_holds() -> None:
    live = LiveUsage(keep=5)
    live.record("k", [s(10), s(0), s(5)])
    live.record("k", [s(5, cpu=99), s(15)])  # 5 is held already: the first one stays
    assert [x.at - T0 for x in live.series("k")] == [0, 5, 10, 15]
    assert live.series("k")[1].cpu_percent == 50
    latest = live.latest("k")
    assert latest is not None and latest.at == T0 + 15
    assert live.latest("other") is None and live.series("other") == []


def test_recent_samples_are_bounded_and_older_ones_ignored_once_full() -> None:
    live = LiveUsage(keep=3)
    live.record("k", [s(i) for i in range(10)])
    assert [x.at - T0 for x in live.series("k")] == [7, 8, 9]
    live.record("k", [s(1), s(8.5)])  # 1: older than all kept, ignored; 8.5 is new
    assert [x.at - T0 for x in live.series("k")] == [8, 8.5, 9]


def test_one_call_adds_at_most_a_window() -> None:
    live = LiveUsage(keep=4)
    live.record("k", [s(i) for i in range(1000)])
    assert len(live.series("k")) == 4


def test_idle_samples_percentages() -> None:
    live = LiveUsage()
    live.record("k", [s(0, cpu=150.0, mem=2**28, limit=2**30, accel_percent=40.0,
                        accel_mem_bytes=3 * 2**30, accel_mem_limit=4 * 2**30)])
    samples, interval = live.idle_samples("k", cpu_cores=2.0)
    assert interval == live.interval
    [only] = samples
    assert only.at == when(0)
    assert only.values == {"cpu": 75.0, "mem": 25.0, "accel": 40.0, "accel_mem": 75.0}


def test_idle_samples_unknowns_are_none() -> None:
    live = LiveUsage()
    live.record("k", [s(0, cpu=None, limit=None)])
    [only], _ = live.idle_samples("k", cpu_cores=1.0)
    assert only.values == {"cpu": None, "mem": None, "accel": None, "accel_mem": None}
    live.record("z", [s(0, cpu=80.0)])
    [zero_cores], _ = live.idle_samples("z", cpu_cores=0)
    assert zero_cores.values["cpu"] is None
    assert live.idle_samples("none", 1.0) == ([], live.interval)


def test_idle_samples_recent_from_since() -> None:
    live = LiveUsage(keep=10)
    live.receive({"k": [s(i * 5.0) for i in range(6)]}, interval=5.0)
    samples, interval = live.idle_samples("k", 1.0, since=when(12))
    assert interval == 5.0
    # From the last sample at or before 'since', so that it is covered from its start.
    assert [x.at for x in samples] == [when(10), when(15), when(20), when(25)]


def test_compacted_series_reaches_past_the_recent_samples() -> None:
    live = LiveUsage(keep=4, horizon=3600, bucket=60)
    for i in range(18):  # 3 minutes, a round at a time
        live.record("k", [s(i * 10.0, cpu=100.0 if i < 6 else 0.0)])
    assert len(live.series("k")) == 4
    # 'since' before the recent samples: the compacted series, with its bucket width.
    series, interval = live.idle_samples("k", 2.0, since=when(0))
    assert interval == 60
    assert [(x.at, x.values["cpu"], x.values["mem"]) for x in series] == [
        (when(0), 50.0, 50.0), (when(60), 0.0, 50.0), (when(120), 0.0, 50.0)]
    # A 'since' the recent samples reach back to: those.
    recent, interval = live.idle_samples("k", 2.0, since=when(145))
    assert interval == live.interval and recent[0].at == when(140)


def test_compacted_series_is_bounded_by_the_horizon() -> None:
    live = LiveUsage(keep=2, horizon=600, bucket=60)
    for i in range(100):  # 50 minutes
        live.record("k", [s(i * 30.0)])
    series, _ = live.idle_samples("k", 1.0)
    assert len(series) <= 600 / 60 + 1
    assert series[0].at >= when(99 * 30 - 600 - 60)
    assert LiveUsage(horizon=24 * 3600).bucket == 24 * 3600 / lu.BUCKETS


def test_a_late_sample_lands_in_its_bucket() -> None:
    live = LiveUsage(keep=100, horizon=3600, bucket=60)
    live.record("k", [s(0, cpu=100.0), s(70, cpu=0.0)])
    live.record("k", [s(30, cpu=0.0)])
    series, _ = live.idle_samples("k", 1.0, since=None)
    # Nothing was dropped (fewer than keep): the recent samples are everything.
    assert [(x.at, x.values["cpu"]) for x in series] == [
        (when(0), 100.0), (when(30), 0.0), (when(70), 0.0)]
    compact = live._series["k"].samples(1.0, None)
    assert [(x.at, x.values["cpu"]) for x in compact] == [(when(0), 50.0), (when(70), 0.0)]


def test_forget_and_late_reports() -> None:
    clock = Clock()
    live = LiveUsage(clock=clock)
    assert live.receive({"k": [s(0)], "j": [s(0)]}) == ["k", "j"]
    assert live.receive({"k": [s(5)]}) == []
    assert live.receive({"e": []}) == ["e"] and live.receive({"e": []}) == ["e"]
    live.forget(["k", "never", "e"])
    live.forget(["k"])  # idempotent
    assert live.latest("k") is None and live.kernels() == ["j"]
    assert live.receive({"k": [s(10)]}) == []  # a late report does not bring it back
    assert live.latest("k") is None
    clock.now = lu.FORGOTTEN_FOR + 1
    live.sweep(force=True)
    assert live.receive({"k": [s(15)]}) == ["k"]


def test_kernels_not_reported_for_the_horizon_are_dropped() -> None:
    clock = Clock()
    live = LiveUsage(horizon=100, clock=clock)
    live.receive({"old": [s(0)], "new": [s(0)]})
    clock.now = 90
    live.receive({"new": [s(90)]})
    clock.now = 150
    live.sweep(force=True)
    assert live.kernels() == ["new"]


def test_receive_takes_the_interval() -> None:
    live = LiveUsage()
    live.receive({}, interval=1.0)
    assert live.interval == 1.0
    live.receive({}, interval=float("nan"))
    assert live.interval == 1.0


# ---- views -----------------------------------------------------------------------------------

def test_summary_sums_the_kernels_newest_samples() -> None:
    live = LiveUsage()
    live.record("a", [s(0, cpu=10.0), s(5, cpu=100.0, mem=100, limit=1000, accel_percent=20.0)])
    live.record("b", [s(3, cpu=50.0, mem=50, limit=500, accel_percent=60.0)])
    out = summary(live, ["a", "b", "c"])
    assert out is not None
    assert (out.at, out.cpu_percent, out.mem_bytes, out.mem_limit, out.accel_percent) == (
        when(5), 150.0, 150, 1500, 40.0)
    live.record("c", [s(1, limit=None, cpu=None)])
    out = summary(live, ["a", "c"])
    assert out is not None and out.mem_limit is None and out.cpu_percent == 100.0
    assert summary(live, ["none"]) is None


def test_session_usage_and_wire_round_trip() -> None:
    live = LiveUsage()
    sample = s(0, accel_mem_limit=8, net_rx_rate=1.5)
    wire = to_wire(sample)
    [back] = samples_in([wire])
    assert back == sample
    live.receive({"k1": [back]}, interval=2.0)
    kernels = [SimpleNamespace(id="k1", role="main"), SimpleNamespace(id="k2", role="sub")]
    out = session_usage(live, "s1", kernels)
    assert out.interval == 2.0
    assert out.kernels[0].latest is not None and out.kernels[0].latest.net_rx_rate == 1.5
    assert out.kernels[0].latest.accel_mem_limit == 8 and len(out.kernels[0].series) == 1
    assert out.kernels[1].latest is None and out.kernels[1].series == []


# ---- accelerators and the agent's loop -------------------------------------------------------

def test_kernel_use_of_whole_devices_and_shares() -> None:
    devices = [Device("0", 16 * 2**30), Device("1", 16 * 2**30)]
    stats = AcceleratorStats(
        devices={"0": DeviceStats("0", 30.0, 2**30, 16 * 2**30),
                 "1": DeviceStats("1", 50.0, 3 * 2**30, 16 * 2**30)},
        kernels={"shared": KernelStats("shared", None, 2**29)})
    held = {"whole": [Allocation("cuda", "whole", {"0": Decimal(1), "1": Decimal(1)})],
            "shared": [Allocation("cuda", "shares", {"0": Decimal("0.25")})],
            "blind": [Allocation("cuda", "shares", {"1": Decimal("0.5")})]}
    use = kernel_use(held, {"cuda": (devices, stats)})
    assert use["whole"].stats == KernelStats("whole", 40.0, 4 * 2**30)
    assert use["whole"].mem_limit == 32 * 2**30
    assert use["shared"].stats == KernelStats("shared", None, 2**29)
    assert use["shared"].mem_limit == 4 * 2**30
    assert use["blind"].stats is None and use["blind"].mem_limit == 8 * 2**30


class FakeTracker:
    """UsageTracker's surface for the loop: one sample per kernel per round."""

    def __init__(self) -> None:
        self.windows: dict[str, list[Sample]] = {}
        self.t = 0.0
        self.forgotten: list[str] = []

    def kernels(self) -> list[str]:
        return list(self.windows)

    def forget(self, kernel_id: str) -> None:
        self.forgotten.append(kernel_id)
        self.windows.pop(kernel_id, None)

    def window(self, kernel_id: str) -> list[Sample]:
        return list(self.windows.get(kernel_id, []))

    async def sample_all(self, kernels: dict[str, str],
                         accelerators: dict[str, KernelStats] | None = None) -> None:
        self.t += 1
        for kernel_id in kernels:
            stats = (accelerators or {}).get(kernel_id)
            self.windows.setdefault(kernel_id, []).append(
                s(self.t, accel_percent=stats.utilization if stats else None))


def test_loop_sends_new_samples_resends_windows_and_forgets_gone_kernels() -> None:
    tracker = FakeTracker()
    running = {"a": "berth-a"}
    sent: list[UsageReport] = []
    replies = [UsageReply(resend=["a"]), UsageReply(), UsageReply()]
    failing = {"now": False}

    async def send(report: UsageReport) -> UsageReply:
        sent.append(report)
        if failing["now"]:
            raise OSError("manager down")
        return replies.pop(0) if replies else UsageReply()

    loop = UsageLoop("agent", tracker, lambda: running, send, 1.0)  # type: ignore[arg-type]

    async def scenario() -> None:
        await loop.round()  # a: 1 sample, the manager asks for its window
        await loop.round()  # a: its whole window (2)
        running["b"] = "berth-b"
        await loop.round()  # a: the new one; b: its first
        failing["now"] = True
        with pytest.raises(OSError):
            await loop.round()
        failing["now"] = False
        del running["b"]
        await loop.round()  # a: the failed round's sample and this one; b forgotten

    asyncio.run(scenario())
    counts = [{k: [x.at - T0 for x in v] for k, v in r.kernels.items()} for r in sent]
    assert counts == [{"a": [1]}, {"a": [1, 2]}, {"a": [3], "b": [3]}, {"a": [4], "b": [4]},
                      {"a": [4, 5]}]
    assert tracker.forgotten == ["b"] and all(r.interval == 1.0 for r in sent)


def test_loop_adds_the_accelerator_memory_held() -> None:
    tracker = FakeTracker()
    sent: list[UsageReport] = []

    class Devices:
        async def kernel_usage(self) -> dict[str, object]:
            from berth.agent.devices import KernelUse
            return {"a": KernelUse(KernelStats("a", 70.0, 5), 100),
                    "gone": KernelUse(None, 1)}

    async def send(report: UsageReport) -> UsageReply:
        sent.append(report)
        return UsageReply()

    loop = UsageLoop("agent", tracker, lambda: {"a": "x", "b": "y"}, send, 5.0,  # type: ignore[arg-type]
                     Devices())  # type: ignore[arg-type]
    asyncio.run(loop.round())
    [a] = sent[0].kernels["a"]
    [b] = sent[0].kernels["b"]
    assert (a.accel_percent, a.accel_mem_limit) == (70.0, 100)
    assert (b.accel_percent, b.accel_mem_limit) == (None, None)
    assert replace(samples_in([a])[0], accel_mem_limit=None).accel_percent == 70.0


# ---- the CLI's lines -------------------------------------------------------------------------

def test_cli_usage_text_and_idle_lines() -> None:
    from berth.cli.usage import idle_lines, session_row, usage_lines, usage_text

    now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    point = {"at": "2026-01-01T12:00:08+00:00", "cpu_percent": 97.26, "mem_bytes": 120 * 2**20,
             "mem_limit": 2**30, "net_rx_rate": 1536.0, "net_tx_rate": 0.0,
             "io_read_rate": None, "io_write_rate": 4096.0, "accel_percent": 40.0,
             "accel_mem_bytes": 2**31, "accel_mem_limit": 2**32}
    assert usage_text(point, now) == (
        "CPU 97.3 % · mem 120.0 MiB / 1.0 GiB · net rx 1.5 KiB/s tx 0 B/s · disk r - w "
        "4.0 KiB/s · accel 40.0 %, 2.0 GiB / 4.0 GiB  (0:02 ago)")
    usage = {"interval": 5.0, "kernels": [{"kernel_id": "k1", "latest": point},
                                          {"kernel_id": "k2", "latest": None}]}
    lines = usage_lines(usage, {"k1": "main1", "k2": "sub1"}, now)
    assert [label for label, _ in lines] == ["usage main1", "usage sub1"]
    assert lines[1][1] == "no sample yet (every 5 s)"
    idle = {"checks": [
        {"check": "session-lifetime", "enabled": True, "remaining": 1800.0,
         "remaining_text": "30m 00s", "urgency": "red", "warn": True, "limit": 7200},
        {"check": "network-timeout", "enabled": False, "remaining": None,
         "remaining_text": "-", "urgency": None, "warn": False, "limit": None,
         "detail": {"reason": "batch sessions are exempt"}},
        {"check": "utilization", "enabled": True, "remaining": 0.0,
         "remaining_text": "time reached, checking…", "urgency": "red", "warn": False,
         "limit": 600}],
        "utilization": [{"resource": "cpu", "threshold": 10.0, "average": 3.25,
                         "coverage": "full", "level": "below"}], "combine": "or"}
    text = idle_lines(idle)
    assert text[0] == ("session-lifetime  [red]30m 00s[/red] left (of 2:00:00) "
                       "[yellow](warning)[/yellow]")
    assert "off (batch sessions are exempt)" in text[1]
    assert "time reached, checking…[/red] (of 10:00)" in text[2]
    assert "[red]cpu 3.2 %[/red] (threshold 10 %, full)" in text[3]
    row = session_row({"name": "n", "id": "i", "usage": None},
                      {"kernels": [{"latest": point}, {"latest": {**point, "mem_limit": None}}]})
    assert row["cpu_percent"] == 2 * 97.26 and row["mem_limit"] is None
    assert row["net_rx_rate"] == 3072.0 and row["accel_percent"] == 40.0
    fallback = session_row({"name": "n", "id": "i", "usage": {"cpu_percent": 5.0}}, None)
    assert fallback["cpu_percent"] == 5.0 and fallback["net_rx_rate"] is None


def test_accelerators_kernel_usage_with_the_mock_plugin() -> None:
    from berth.agent.accelerators.mock import MockGpuPlugin
    from berth.agent.devices import Accelerators

    plugin = MockGpuPlugin([Device("0", 16 * 2**30, "MockA100")])
    devices = Accelerators([plugin])

    async def scenario() -> None:
        await devices.start()
        assert await devices.kernel_usage() == {}  # nothing held: no stats asked
        devices.reserve("k", [{"slot_prefix": "mock-gpu", "mode": "whole",
                               "devices": {"0": "1"}}])
        plugin.set_utilization("0", 65.0, 2**30)
        use = await devices.kernel_usage()
        assert use["k"].stats == KernelStats("k", 65.0, 2**30)
        assert use["k"].mem_limit == 16 * 2**30

    asyncio.run(scenario())
