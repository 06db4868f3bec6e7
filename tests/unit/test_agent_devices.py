"""The agent's accelerators (berth.agent.devices) without hardware: the MOCK GPU plugin, a
stub "real" plugin and a fake NVML. Reserving, clashes, unknown plugins and devices, release,
restore from container labels, capacity and heartbeat infos; the node applying them through
the fake backend; the Docker backend's create request and its defensive label reading."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth import rpc
from berth.agent.accelerators.base import (
    AcceleratorSlot,
    AcceleratorStats,
    ContainerSettings,
    devices_of,
    slot_types_for,
    whole_env,
)
from berth.agent.accelerators.mock import MockGpuPlugin, parse_mock_devices
from berth.agent.accelerators.nvidia import NvidiaPlugin
from berth.agent.backends.base import LABEL_ACCELERATORS, read_accelerators_label
from berth.agent.backends.docker import _status, container_config
from berth.agent.backends.fake import FAKE_IMAGE, FakeBackend
from berth.agent.devices import Accelerators, ReserveError, build_plugins
from berth.agent.node import Node
from berth.agent.server import host_capacity
from berth.domain.devices import Allocation, Device
from berth.rpc import CreateKernel, EventKind, KernelEvent
from berth.settings import AgentSettings

GiB, MiB = 2**30, 2**20


def whole(*ids: str, prefix: str = "mock-gpu") -> dict[str, Any]:
    return {"slot_prefix": prefix, "mode": "whole", "devices": {i: "1" for i in ids}}


def shares(device: str, amount: str, prefix: str = "mock-gpu") -> dict[str, Any]:
    return {"slot_prefix": prefix, "mode": "shares", "devices": {device: amount}}


async def mock_agent(text: str = "0:16g,1:16g") -> tuple[Accelerators, MockGpuPlugin]:
    plugin = MockGpuPlugin(parse_mock_devices(text))
    accelerators = Accelerators([plugin])
    await accelerators.start()
    return accelerators, plugin


class StubRealGpu:
    """A STUB of a real (non-mock) plugin named ``cuda`` with the given devices."""

    name = "cuda"

    def __init__(self, devices: Sequence[Device]) -> None:
        self.devices = list(devices)
        self.reason = "" if devices else "no GPU here"

    def slot_types(self) -> list[AcceleratorSlot]:
        return slot_types_for(self.name, "stub GPU", Decimal("0.1"))

    async def discover(self) -> list[Device]:
        return list(self.devices)

    def container_settings(self, allocation: Allocation, devices: Sequence[Device]
                           ) -> ContainerSettings:
        held = devices_of(self.name, allocation, devices)
        return ContainerSettings(env=whole_env([d.id for d in held]),
                                 device_requests=[{"Driver": "stub"}])

    async def stats(self) -> AcceleratorStats:
        return AcceleratorStats()

    async def health(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class FakeNvml:
    """A FAKE ``pynvml``: ``gpus`` many 80 GiB GPUs, or an init error."""

    def __init__(self, gpus: int = 0, init_error: str = "") -> None:
        self.gpus, self.init_error = gpus, init_error

    def nvmlInit(self) -> None:
        if self.init_error:
            raise RuntimeError(self.init_error)

    def nvmlShutdown(self) -> None: ...

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA H100"

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-{handle}"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=80 * GiB, used=GiB)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=40)


# -- reserve, clash, release ----------------------------------------------------------------

async def test_reserve_gives_the_plugins_settings_and_holds_the_devices() -> None:
    acc, _ = await mock_agent()
    got = acc.reserve("k1", [whole("1")])
    assert got.env == {"BERTH_MOCK_GPU": "1", "CUDA_VISIBLE_DEVICES": "1"}
    half = acc.reserve("k2", [shares("0", "0.50")])
    assert half.env == {"BERTH_MOCK_GPU": "1", "CUDA_VISIBLE_DEVICES": "0",
                        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "50",
                        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=8192M"}
    assert acc.allocations_json("k2") == [shares("0", "0.5")]  # normalized
    assert acc.reserve("k3", [shares("0", "0.5")]).env["CUDA_VISIBLE_DEVICES"] == "0"
    assert set(acc.held) == {"k1", "k2", "k3"}
    assert acc.reserve("k4", []) == ContainerSettings() and "k4" not in acc.held


@pytest.mark.parametrize(("first", "second", "message"), [
    (whole("0"), whole("0"), "mock-gpu: device 0 is taken whole by kernel a"),
    (whole("0"), shares("0", "0.1"), "mock-gpu: device 0 is taken whole by kernel a"),
    (shares("0", "0.3"), whole("0", "1"),
     "mock-gpu: device 0 cannot be given whole: kernel a holds 0.3 of it as shares"),
    (shares("0", "0.5"), shares("0", "0.6"),
     "mock-gpu: device 0 has 0.5 free (kernel a holds 0.5), 0.6 wanted"),
])
async def test_a_clash_with_another_kernel_is_refused_and_holds_nothing(
        first: dict[str, Any], second: dict[str, Any], message: str) -> None:
    acc, _ = await mock_agent()
    acc.reserve("a", [first])
    # "0" sorts before "a": the pure restore would keep the newcomer, the agent must not.
    for kernel_id in ("b", "0"):
        with pytest.raises(ReserveError) as e:
            acc.reserve(kernel_id, [second])
        assert str(e.value) == message
        assert kernel_id not in acc.held
    assert acc.allocations_json("a") == [Allocation.from_json(first).to_json()]


@pytest.mark.parametrize(("allocations", "message"), [
    ([whole("7")], "mock-gpu: device 7 is not on this agent"),
    ([whole("0", prefix="cuda")], "cuda: this agent has no cuda devices"),
    ([{"slot_prefix": "mock-gpu", "mode": "most", "devices": {"0": "1"}}],
     "accelerators[0]: allocation: mode must be 'whole' or 'shares', not 'most'"),
    ([shares("0", "1.5")], "accelerators[0]: allocation: shares must be above 0 and at most 1"),
    ([whole("0"), shares("1", "0.5")], "accelerators: two allocations of mock-gpu"),
])
async def test_unknown_plugins_devices_and_bad_allocations_are_refused(
        allocations: list[dict[str, Any]], message: str) -> None:
    acc, _ = await mock_agent()
    with pytest.raises(ReserveError, match="^" + message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        acc.reserve("k1", allocations)
    assert acc.held == {}


async def test_a_kernel_reserves_once_and_release_frees_exactly_its_devices() -> None:
    acc, _ = await mock_agent()
    acc.reserve("k1", [whole("0")])
    with pytest.raises(ReserveError, match="kernel k1 already holds accelerators"):
        acc.reserve("k1", [whole("1")])
    assert acc.allocations_json("k1") == [whole("0")]
    acc.reserve("k2", [shares("1", "0.5")])
    with pytest.raises(ReserveError):
        acc.reserve("k3", [whole("0")])
    acc.release("k1")
    acc.release("k1")  # idempotent
    acc.release("never-seen")
    assert acc.reserve("k3", [whole("0")]).env["CUDA_VISIBLE_DEVICES"] == "0"
    with pytest.raises(ReserveError):  # k2's shares are still held
        acc.reserve("k4", [whole("1")])


async def test_an_agent_without_plugins_refuses_every_allocation_and_offers_nothing() -> None:
    acc = Accelerators()
    await acc.start()
    with pytest.raises(ReserveError, match="mock-gpu: this agent has no mock-gpu devices"):
        acc.reserve("k1", [whole("0")])
    assert acc.capacity() == {} and await acc.infos() == []
    await acc.close()


# -- restore from labels ----------------------------------------------------------------------

async def test_restore_keeps_what_fits_and_logs_the_rest(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    acc, _ = await mock_agent()
    acc.reserve("stale", [whole("1")])  # replaced by what the containers say
    with caplog.at_level(logging.WARNING, logger="berth.agent.devices"):
        problems = acc.restore({
            "k1": [whole("0")],
            "k2": [whole("0")],  # clashes with k1: the first id stays
            "k3": [shares("1", "0.5")],
            "k4": [shares("9", "0.5")],
            "k5": [whole("0", prefix="cuda")],
            "k6": [{"slot_prefix": "mock-gpu", "mode": "whole"}],
        })
    assert set(acc.held) == {"k1", "k3"}
    assert acc.allocations_json("k3") == [shares("1", "0.5")]
    assert len(problems) == 4
    assert "kernel k2: mock-gpu device 0 is already taken whole by k1" in problems
    assert "kernel k4: mock-gpu device 9 is not on this agent" in problems
    assert "kernel k5: holds cuda devices, but this agent has no cuda devices" in problems
    assert any(p.startswith("kernel k6: allocation: devices must be") for p in problems)
    assert sum("accelerators not restored" in r.message for r in caplog.records) == 4
    # What was restored counts: k1 holds device 0, k3 half of device 1.
    with pytest.raises(ReserveError, match="taken whole by kernel k1"):
        acc.reserve("new", [shares("0", "0.1")])
    with pytest.raises(ReserveError, match="has 0.5 free"):
        acc.reserve("new", [shares("1", "0.6")])
    acc.reserve("new", [shares("1", "0.5")])
    assert acc.restore({}) == [] and acc.held == {}


# -- what the agent offers --------------------------------------------------------------------

async def test_capacity_and_infos_with_stats() -> None:
    acc, plugin = await mock_agent("0:16g,1:16g:Mock H100")
    assert plugin.started
    assert acc.capacity() == {"mock-gpu.device": "2", "mock-gpu.shares": "2"}
    plugin.set_utilization("1", 75.0, 3 * GiB)
    [info] = await acc.infos()
    assert (info.name, info.mock, info.reason) == ("mock-gpu", True, "")
    assert [(s.name, s.quantum) for s in info.slots] == [("mock-gpu.device", "1"),
                                                         ("mock-gpu.shares", "0.1")]
    assert info.devices == [
        rpc.DeviceInfo(id="0", memory=16 * GiB, model="mock GPU", utilization=0.0,
                       memory_used=0),
        rpc.DeviceInfo(id="1", memory=16 * GiB, model="Mock H100", utilization=75.0,
                       memory_used=3 * GiB)]
    await acc.close()
    assert not plugin.started


async def test_a_mock_is_refused_beside_real_gpus(caplog: pytest.LogCaptureFixture) -> None:
    mock = MockGpuPlugin(parse_mock_devices("0:16g"))
    acc = Accelerators([StubRealGpu([Device("0", 80 * GiB, "stub")]), mock])
    with caplog.at_level(logging.ERROR, logger="berth.agent.devices"):
        await acc.start()
    assert not mock.started
    assert any("MOCK GPU plugin is configured" in r.message for r in caplog.records)
    assert acc.capacity() == {"cuda.device": "1", "cuda.shares": "1"}
    real, refused = await acc.infos()
    assert (real.name, len(real.devices), real.mock) == ("cuda", 1, False)
    assert (refused.name, refused.devices, refused.slots, refused.mock) == (
        "mock-gpu", [], [], True)
    assert refused.reason.startswith("refused: real accelerators (cuda) were found")
    with pytest.raises(ReserveError, match="mock-gpu: this agent has no mock-gpu devices "
                                           r"\(refused: real accelerators"):
        acc.reserve("k1", [whole("0")])
    assert acc.reserve("k1", [whole("0", prefix="cuda")]).device_requests == [
        {"Driver": "stub"}]


async def test_a_mock_beside_a_real_plugin_without_devices_is_used() -> None:
    acc = Accelerators([StubRealGpu([]), MockGpuPlugin(parse_mock_devices("0:16g"))])
    await acc.start()
    assert acc.capacity() == {"mock-gpu.device": "1", "mock-gpu.shares": "1"}
    [cuda, mock] = await acc.infos()
    assert (cuda.devices, cuda.slots, cuda.reason) == ([], [], "no GPU here")
    assert len(mock.devices) == 1


def test_settings_validate_the_mock_and_nvidia_fields() -> None:
    with pytest.raises(ValueError, match=r"mock_gpus\n.*mock GPU devices\[1\]\.memory"):
        AgentSettings(mock_gpus="0:16g,1:lots")
    with pytest.raises(ValueError, match=r"nvidia\n.*'auto', 'whole' or 'off'"):
        AgentSettings(nvidia="yes")
    assert AgentSettings().mock_gpus == "" and AgentSettings().nvidia == "auto"
    assert AgentSettings(nvidia=" OFF ").nvidia == "off"
    assert "MOCK" in (AgentSettings.model_fields["mock_gpus"].description or "")


async def test_build_plugins_from_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                          ) -> None:
    assert build_plugins(AgentSettings(data_dir=tmp_path, nvidia="off")) == []
    [mock] = build_plugins(AgentSettings(data_dir=tmp_path, nvidia="off", mock_gpus="0:1g"))
    assert isinstance(mock, MockGpuPlugin)
    # No NVML (every CPU machine): the reason is logged once, no slots, the mock is used.
    settings = AgentSettings(data_dir=tmp_path, mock_gpus="0:1g")
    acc = Accelerators.from_settings(settings, nvml=FakeNvml(init_error="no library"))
    with caplog.at_level(logging.INFO, logger="berth.agent.devices"):
        await acc.start()
    assert [r.message for r in caplog.records if "no devices" in r.message] == [
        "cuda: no devices, no slots offered: NVML not available: no library"]
    assert acc.capacity() == {"mock-gpu.device": "1", "mock-gpu.shares": "1"}
    [cuda, _] = await acc.infos()
    assert cuda.reason == "NVML not available: no library" and cuda.slots == []
    await acc.close()
    # NVML finds GPUs: they are offered, the mock is refused; 'whole' offers no shares.
    for mode, slots in (("auto", {"cuda.device": "2", "cuda.shares": "2"}),
                        ("whole", {"cuda.device": "2"})):
        settings = AgentSettings(data_dir=tmp_path, mock_gpus="0:1g", nvidia=mode)
        acc = Accelerators.from_settings(settings, nvml=FakeNvml(gpus=2))
        await acc.start()
        assert acc.capacity() == slots
        [cuda, mock_info] = await acc.infos()
        assert [d.utilization for d in cuda.devices] == [40.0, 40.0]
        assert mock_info.reason.startswith("refused")
        await acc.close()


def test_nvidia_daemons_outlive_the_agent(tmp_path: Path) -> None:
    [plugin] = build_plugins(AgentSettings(data_dir=tmp_path))
    assert isinstance(plugin, NvidiaPlugin)
    assert plugin._stop_mps_on_close is False  # kernels holding shares keep their daemon


# -- the node applies them through the fake backend -----------------------------------------

class Events:
    def __init__(self) -> None:
        self.events: list[KernelEvent] = []
        self.changed = asyncio.Event()

    async def event(self, event: KernelEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def next(self) -> KernelEvent:
        count = len(self.events)
        while len(self.events) == count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)
        return self.events[-1]


def spec(kernel_id: str, *allocations: dict[str, Any]) -> CreateKernel:
    return CreateKernel(kernel_id=kernel_id, session_id=f"s-{kernel_id}", session_name="n",
                        owner_id="u", session_type="batch", image=FAKE_IMAGE, cpu=1,
                        mem=GiB, shmem=64 * MiB, environ={"CUDA_VISIBLE_DEVICES": "9",
                                                          "FOO": "bar"},
                        accelerators=list(allocations))


async def test_the_node_reserves_applies_reports_and_releases(tmp_path: Path) -> None:
    backend, events = FakeBackend("a1"), Events()
    acc, _ = await mock_agent()
    node = Node("a1", backend, events, tmp_path, acc)
    await node.start()
    node.accept(spec("k1", shares("0", "0.50")))
    started = await events.next()
    assert started.kind == EventKind.STARTED
    assert started.kernel.accelerators == [shares("0", "0.5")]
    env = backend.containers["k1"].env
    assert env["FOO"] == "bar" and env["CUDA_VISIBLE_DEVICES"] == "0"  # the allocation wins
    assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "50"
    node.accept(spec("k2", whole("0")))
    failed = await events.next()
    assert (failed.kind, failed.kernel.kernel_id) == (EventKind.CREATE_FAILED, "k2")
    assert failed.error == ("mock-gpu: device 0 cannot be given whole: kernel k1 holds 0.5 "
                            "of it as shares")
    assert "k2" not in backend.containers and "k2" not in acc.held
    assert not (tmp_path / "scratch" / "k2").exists()
    [report] = await node.kernel_reports()
    assert report.accelerators == [shares("0", "0.5")]
    beat = await node.heartbeat("http://x", "default",
                                host_capacity(AgentSettings(cpu=2, mem=GiB), acc), "v")
    assert beat.capacity == {"cpu": "2.0", "mem": str(GiB), "mock-gpu.device": "2",
                             "mock-gpu.shares": "2"}
    assert [i.name for i in beat.accelerators] == ["mock-gpu"]
    await node.close()

    # A restarted agent (a new node on the same containers) holds what they carry.
    acc2, _ = await mock_agent()
    node2 = Node("a1", backend, events, tmp_path, acc2)
    await node2.start()
    assert acc2.allocations_json("k1") == [shares("0", "0.5")]
    node2.accept(spec("k3", whole("0")))
    assert (await events.next()).kind == EventKind.CREATE_FAILED
    await node2.destroy("k1", grace=0)
    assert acc2.held == {}
    node2.accept(spec("k3", whole("0")))
    ok = await events.next()
    while ok.kind == EventKind.EXITED:  # the fake batch kernel may end at once
        ok = await events.next()
    assert (ok.kind, ok.kernel.kernel_id) == (EventKind.STARTED, "k3")
    await node2.destroy("k3", grace=0)
    await node2.close()


async def test_a_failed_create_releases_what_it_reserved(tmp_path: Path) -> None:
    events = Events()
    acc, _ = await mock_agent()
    node = Node("a1", FakeBackend("a1", mode="fail"), events, tmp_path, acc)
    await node.start()
    node.accept(spec("k1", whole("0")))
    failed = await events.next()
    assert (failed.kind, failed.error) == (EventKind.CREATE_FAILED, "fake: refused by mode=fail")
    assert acc.held == {}
    await node.close()


# -- the Docker backend's create request and labels (no engine needed) ------------------------

def test_container_config_applies_the_devices_and_labels_the_allocation() -> None:
    devices = ContainerSettings(
        env={"CUDA_VISIBLE_DEVICES": "GPU-a"},
        device_requests=[{"Driver": "nvidia", "DeviceIDs": ["GPU-a"],
                          "Capabilities": [["gpu"]]}],
        mounts=[("/var/mps/0/pipe", "/tmp/nvidia-mps", False)], ipc_host=True)
    config = container_config(spec("k1", shares("0", "0.5", prefix="cuda")), "a1", "/scratch",
                              [], 4096, devices=devices)
    assert sorted(config["Env"]) == ["CUDA_VISIBLE_DEVICES=GPU-a", "FOO=bar"]
    host = config["HostConfig"]
    assert host["DeviceRequests"] == devices.device_requests
    assert host["IpcMode"] == "host"
    assert {"Type": "bind", "Source": "/var/mps/0/pipe", "Target": "/tmp/nvidia-mps",
            "ReadOnly": False, "BindOptions": {"Propagation": "rprivate"}} in host["Mounts"]
    label = config["Labels"][LABEL_ACCELERATORS]
    assert read_accelerators_label("k1", label) == [shares("0", "0.5", prefix="cuda")]
    plain = container_config(spec("k2"), "a1", "/scratch", [], 4096,
                             devices=ContainerSettings())
    assert LABEL_ACCELERATORS not in plain["Labels"]
    assert "DeviceRequests" not in plain["HostConfig"] and "IpcMode" not in plain["HostConfig"]
    assert sorted(plain["Env"]) == ["CUDA_VISIBLE_DEVICES=9", "FOO=bar"]


@pytest.mark.parametrize(("label", "expected", "logged"), [
    ("", [], 0),
    ("not json", [], 1),
    ('{"slot_prefix": "mock-gpu"}', [], 1),
    ('[{"slot_prefix": "mock-gpu", "mode": "whole", "devices": {"0": "2"}}, '
     '{"slot_prefix": "mock-gpu", "mode": "shares", "devices": {"1": 0.25}}, 7]',
     [shares("1", "0.25")], 2),
])
def test_a_bad_accelerators_label_is_logged_and_ignored(
        label: str, expected: list[dict[str, Any]], logged: int,
        caplog: pytest.LogCaptureFixture) -> None:
    data = {"Id": "c1", "State": {"Status": "running", "Running": True},
            "Config": {"Labels": {"berth.kernel-id": "k1", "berth.session-id": "s1",
                                  LABEL_ACCELERATORS: label}}}
    with caplog.at_level(logging.WARNING, logger="berth.agent.backends"):
        status = _status(data)
    assert status.accelerators == expected
    assert len(caplog.records) == logged
    assert all("kernel k1: label berth.accelerators" in r.getMessage() for r in caplog.records)
    heard: list[str] = []
    assert _status(data, heard.append).accelerators == expected and len(heard) == logged
