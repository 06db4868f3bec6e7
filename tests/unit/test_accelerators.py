"""Accelerator plugins without hardware: the MOCK GPU plugin (parsing, container settings,
synthetic stats) and the NVIDIA plugin against a fake NVML module and a fake process runner
(discovery, stats, the no-hardware reason, whole and shares settings, MPS command lines);
and scripts/gpu_check.py on a machine without a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.agent.accelerators.base import AcceleratorError, ContainerSettings, share_env
from berth.agent.accelerators.mock import MockGpuPlugin, parse_mock_devices
from berth.agent.accelerators.mps import CONTROL, ProcessResult, run_process
from berth.agent.accelerators.nvidia import CONTAINER_PIPE_DIR, NvidiaPlugin
from berth.domain.devices import Allocation, Device

GiB, MiB = 2**30, 2**20
D = Decimal
ROOT = Path(__file__).resolve().parents[2]


# -- the mock plugin -----------------------------------------------------------------------

def test_parse_mock_devices_from_the_short_form_and_json() -> None:
    assert parse_mock_devices("1:8g, 0:16g:A100-mock") == [
        Device("0", 16 * GiB, "A100-mock"), Device("1", 8 * GiB, "mock GPU")]
    assert parse_mock_devices('[{"id": "a", "memory": "512m"}, {"id": 2, "memory": 1024}]') \
        == [Device("2", 1024, "mock GPU"), Device("a", 512 * MiB, "mock GPU")]
    assert parse_mock_devices('["0:1g"]') == [Device("0", GiB, "mock GPU")]
    assert parse_mock_devices("  ") == []


@pytest.mark.parametrize(("text", "message"), [
    ("0", r"mock GPU devices\[0\]: '0' must be id:memory"),
    ("0:16g,1:lots", r"mock GPU devices\[1\]\.memory: must be a size"),
    (":16g", r"mock GPU devices\[0\]\.id: must be a non-empty string"),
    ("0:16g,0:8g", "device id '0' appears twice"),
    ("[{", "not valid JSON"),
    ('[{"id": "0"}]', r"mock GPU devices\[0\]\.memory: must be a size"),
    ('[{"id": "0", "memory": "1g", "model": 3}]', r"mock GPU devices\[0\]\.model"),
    ("[7]", r"mock GPU devices\[0\]: must be an object"),
    ("0:0", r"mock GPU devices\[0\]\.memory: must be greater than zero"),
])
def test_parse_mock_devices_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mock_devices(text)


def test_the_mock_is_off_unless_configured_and_says_it_is_a_mock() -> None:
    assert MockGpuPlugin.from_setting("") is None
    plugin = MockGpuPlugin.from_setting("0:16g")
    assert plugin is not None and plugin.name == "mock-gpu"
    names = [(s.name, s.unit, s.quantum) for s in plugin.slot_types()]
    assert names == [("mock-gpu.device", "count", 1), ("mock-gpu.shares", "count", D("0.1"))]
    assert all("mock GPU (tests and demos)" in s.description for s in plugin.slot_types())
    assert MockGpuPlugin([]).reason == "no mock GPU devices configured"


MOCK_DEVICES = [Device("0", 16 * GiB), Device("1", 1001 * MiB)]


def test_mock_settings_for_whole_devices() -> None:
    plugin = MockGpuPlugin(MOCK_DEVICES)
    got = plugin.container_settings(Allocation("mock-gpu", "whole", {"0": D(1), "1": D(1)}),
                                    MOCK_DEVICES)
    assert got == ContainerSettings(env={"BERTH_MOCK_GPU": "1", "CUDA_VISIBLE_DEVICES": "0,1"})


def test_mock_settings_for_shares_are_the_mps_limits() -> None:
    plugin = MockGpuPlugin(MOCK_DEVICES)
    half = plugin.container_settings(Allocation("mock-gpu", "shares", {"0": D("0.5")}),
                                     MOCK_DEVICES)
    assert half == ContainerSettings(env={
        "BERTH_MOCK_GPU": "1", "CUDA_VISIBLE_DEVICES": "0",
        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "50",
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=8192M"})
    # 0.3 of 1001 MiB is 300.3 MiB: the limit is rounded down, never up.
    part = plugin.container_settings(Allocation("mock-gpu", "shares", {"1": D("0.3")}),
                                     MOCK_DEVICES)
    assert part.env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=300M"
    assert part.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "30"


def test_mock_refuses_other_plugins_allocations_and_unknown_devices() -> None:
    plugin = MockGpuPlugin(MOCK_DEVICES)
    with pytest.raises(AcceleratorError, match="belongs to cuda"):
        plugin.container_settings(Allocation("cuda", "whole", {"0": D(1)}), MOCK_DEVICES)
    with pytest.raises(AcceleratorError, match="device 5 is not on this node"):
        plugin.container_settings(Allocation("mock-gpu", "whole", {"5": D(1)}), MOCK_DEVICES)


async def test_mock_stats_are_what_a_test_sets() -> None:
    plugin = MockGpuPlugin(MOCK_DEVICES)
    assert await plugin.discover() == MOCK_DEVICES
    before = await plugin.stats()
    assert before.devices["0"].utilization == 0 and before.devices["0"].mem_used == 0
    assert before.devices["0"].mem_total == 16 * GiB and before.kernels == {}
    plugin.set_utilization("1", 87.5, 300 * MiB)
    plugin.set_kernel_stats("k1", 40.0, 100 * MiB)
    after = await plugin.stats()
    assert (after.devices["1"].utilization, after.devices["1"].mem_used) == (87.5, 300 * MiB)
    assert after.kernels["k1"].utilization == 40.0
    assert after.kernels["k1"].mem_used == 100 * MiB
    plugin.clear_kernel_stats("k1")
    assert (await plugin.stats()).kernels == {}
    with pytest.raises(KeyError):
        plugin.set_utilization("9", 1.0, 0)
    await plugin.start()
    assert (await plugin.health())["mock"] is True
    await plugin.close()


# -- the NVIDIA plugin with a fake NVML and a fake process runner --------------------------

class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """A FAKE of the ``pynvml`` module: GPUs described by dicts; bytes for some strings, as
    older pynvml versions return."""

    NVMLError = FakeNvmlError

    def __init__(self, gpus: list[dict[str, Any]], init_error: str = "") -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.inits = self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise FakeNvmlError(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> Any:
        return handle["name"]

    def nvmlDeviceGetUUID(self, handle: dict[str, Any]) -> str:
        return str(handle["uuid"])

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        if handle.get("broken"):
            raise FakeNvmlError("GPU is lost")
        return SimpleNamespace(total=handle["total"], used=handle["used"],
                               free=handle["total"] - handle["used"])

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(gpu=handle["util"], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: dict[str, Any]
                                             ) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in handle["procs"]]


def fake_gpus() -> list[dict[str, Any]]:
    return [
        {"name": b"NVIDIA H100 80GB HBM3", "uuid": "GPU-aaaa", "total": 80 * GiB,
         "used": 10 * GiB, "util": 35, "procs": [(101, 2 * GiB), (102, GiB), (999, GiB)]},
        {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-bbbb", "total": 80 * GiB,
         "used": 0, "util": 0, "procs": [(103, None)]},
    ]


class FakeRunner:
    """A FAKE process runner: records every command; a daemon "answers" on its pipe
    directory once started (on every one with ``running=True``: left by an earlier agent)."""

    def __init__(self, running: bool = False, start_error: str = "") -> None:
        self.calls: list[tuple[list[str], dict[str, str], str | None]] = []
        self.everywhere = running
        self.running: set[str] = set()
        self.start_error = start_error

    async def __call__(self, argv: Sequence[str], env: Mapping[str, str], stdin: str | None
                       ) -> ProcessResult:
        self.calls.append((list(argv), dict(env), stdin))
        pipe = env["CUDA_MPS_PIPE_DIRECTORY"]
        if list(argv) == [CONTROL, "-d"]:
            if self.start_error:
                return ProcessResult(1, "", self.start_error)
            self.running.add(pipe)
            return ProcessResult(0, "", "")
        alive = self.everywhere or pipe in self.running
        if stdin == "quit\n":
            self.everywhere = False
            self.running.discard(pipe)
        return ProcessResult(0, "", "") if alive else ProcessResult(1, "", "no daemon")


def nvidia(tmp_path: Path, runner: FakeRunner | None = None, **kw: Any
           ) -> tuple[NvidiaPlugin, FakeNvml, FakeRunner]:
    nvml, runner = FakeNvml(fake_gpus()), runner or FakeRunner()
    return NvidiaPlugin(tmp_path, nvml=nvml, runner=runner, **kw), nvml, runner


async def test_nvidia_discovers_gpus_through_nvml(tmp_path: Path) -> None:
    plugin, nvml, _ = nvidia(tmp_path)
    devices = await plugin.discover()
    assert devices == [Device("0", 80 * GiB, "NVIDIA H100 80GB HBM3"),
                       Device("1", 80 * GiB, "NVIDIA H100 80GB HBM3")]
    assert plugin.reason == ""
    assert await plugin.discover() == devices and nvml.inits == 1  # idempotent
    assert [s.name for s in plugin.slot_types()] == ["cuda.device", "cuda.shares"]
    await plugin.close()
    assert nvml.shutdowns == 1


async def test_nvidia_without_hardware_finds_nothing_and_says_why(tmp_path: Path) -> None:
    missing = NvidiaPlugin(tmp_path, nvml=FakeNvml([], init_error="NVML Shared Library "
                                                                  "Not Found"))
    assert await missing.discover() == []
    assert missing.reason == "NVML not available: NVML Shared Library Not Found"
    assert (await missing.stats()).devices == {}
    assert (await missing.health())["nvml"] == missing.reason
    await missing.close()
    empty = NvidiaPlugin(tmp_path, nvml=FakeNvml([]))
    assert await empty.discover() == [] and empty.reason == "NVML found no NVIDIA GPU"


async def test_nvidia_with_the_real_library_never_raises(tmp_path: Path) -> None:
    plugin = NvidiaPlugin(tmp_path, runner=FakeRunner())
    devices = await plugin.discover()
    assert devices or plugin.reason.startswith("NVML ")
    await plugin.close()


async def test_nvidia_stats_per_device_and_per_kernel(tmp_path: Path) -> None:
    owners = {101: "k1", 102: "k1", 103: "k2"}
    plugin, nvml, _ = nvidia(tmp_path, kernel_of_pid=owners.get)
    await plugin.discover()
    stats = await plugin.stats()
    assert stats.devices["0"].utilization == 35.0
    assert (stats.devices["0"].mem_used, stats.devices["0"].mem_total) == (10 * GiB, 80 * GiB)
    assert stats.kernels["k1"].mem_used == 3 * GiB and stats.kernels["k1"].utilization is None
    assert stats.kernels["k2"].mem_used == 0  # NVML may not know a process's memory
    nvml.gpus[1]["broken"] = True
    assert set((await plugin.stats()).devices) == {"0"}  # a lost GPU is left out
    plain, _, _ = nvidia(tmp_path)
    await plain.discover()
    assert (await plain.stats()).kernels == {}


async def test_nvidia_whole_gpus_are_device_requests_by_uuid(tmp_path: Path) -> None:
    plugin, _, _ = nvidia(tmp_path)
    devices = await plugin.discover()
    both = Allocation("cuda", "whole", {"0": D(1), "1": D(1)})
    assert plugin.container_settings(both, devices) == ContainerSettings(
        env={"CUDA_VISIBLE_DEVICES": "GPU-aaaa,GPU-bbbb"},
        device_requests=[{"Driver": "nvidia", "DeviceIDs": ["GPU-aaaa", "GPU-bbbb"],
                          "Capabilities": [["gpu"]]}])
    assert plugin.process_env(both, devices) == {"CUDA_VISIBLE_DEVICES": "GPU-aaaa,GPU-bbbb"}


async def test_nvidia_start_runs_one_mps_daemon_per_gpu(tmp_path: Path) -> None:
    plugin, _, runner = nvidia(tmp_path)
    await plugin.discover()
    await plugin.start()
    env0, env1 = ({"CUDA_VISIBLE_DEVICES": uuid,
                   "CUDA_MPS_PIPE_DIRECTORY": str(tmp_path / f"mps/{gpu}/pipe"),
                   "CUDA_MPS_LOG_DIRECTORY": str(tmp_path / f"mps/{gpu}/log")}
                  for gpu, uuid in (("0", "GPU-aaaa"), ("1", "GPU-bbbb")))
    assert runner.calls == [([CONTROL], env0, "get_server_list\n"),
                            ([CONTROL, "-d"], env0, None),
                            ([CONTROL], env1, "get_server_list\n"),
                            ([CONTROL, "-d"], env1, None)]
    pipe0 = tmp_path / "mps/0/pipe"
    assert pipe0.is_dir() and (pipe0.stat().st_mode & 0o7777) == 0o1777
    assert (await plugin.health())["mps"] == {"0": "running", "1": "running"}
    await plugin.start()  # idempotent
    assert len(runner.calls) == 4
    await plugin.close()
    assert runner.calls[4:] == [([CONTROL], env0, "quit\n"), ([CONTROL], env1, "quit\n")]
    assert runner.running == set()
    await plugin.close()  # idempotent
    assert len(runner.calls) == 6


async def test_nvidia_shares_get_mps_limits_pipe_dir_and_host_ipc(tmp_path: Path) -> None:
    plugin, _, _ = nvidia(tmp_path)
    devices = await plugin.discover()
    half = Allocation("cuda", "shares", {"1": D("0.5")})
    with pytest.raises(AcceleratorError, match="GPU 1 cannot be shared now: its MPS daemon "
                                               "is not started"):
        plugin.container_settings(half, devices)
    await plugin.start()
    limits = {"CUDA_VISIBLE_DEVICES": "GPU-bbbb", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "50",
              "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=40960M"}
    pipe = tmp_path / "mps/1/pipe"
    assert plugin.container_settings(half, devices) == ContainerSettings(
        env={**limits, "CUDA_MPS_PIPE_DIRECTORY": CONTAINER_PIPE_DIR},
        device_requests=[{"Driver": "nvidia", "DeviceIDs": ["GPU-bbbb"],
                          "Capabilities": [["gpu"]]}],
        mounts=[(str(pipe), CONTAINER_PIPE_DIR, False)],
        ipc_host=True)
    assert plugin.process_env(half, devices) == {
        **limits, "CUDA_MPS_PIPE_DIRECTORY": str(pipe),
        "CUDA_MPS_LOG_DIRECTORY": str(tmp_path / "mps/1/log")}


async def test_mock_and_nvidia_give_the_same_mps_limits(tmp_path: Path) -> None:
    plugin, _, _ = nvidia(tmp_path)
    devices = await plugin.discover()
    await plugin.start()
    real = plugin.container_settings(Allocation("cuda", "shares", {"0": D("0.3")}), devices)
    mock = MockGpuPlugin(devices).container_settings(
        Allocation("mock-gpu", "shares", {"0": D("0.3")}), devices)
    assert mock.env == {**share_env("0", D("0.3"), 80 * GiB), "BERTH_MOCK_GPU": "1"}
    assert real.env == {**share_env("GPU-aaaa", D("0.3"), 80 * GiB),
                        "CUDA_MPS_PIPE_DIRECTORY": CONTAINER_PIPE_DIR}


async def test_nvidia_reuses_a_running_daemon_and_can_leave_it_running(tmp_path: Path) -> None:
    plugin, _, runner = nvidia(tmp_path, runner=FakeRunner(running=True),
                             stop_mps_on_close=False)
    await plugin.discover()
    await plugin.start()
    assert [argv for argv, _, _ in runner.calls] == [[CONTROL], [CONTROL]]  # probes only
    assert all(d.reused for d in plugin.mps_daemons.values())
    await plugin.close()
    assert len(runner.calls) == 2 and runner.everywhere


async def test_nvidia_a_failed_daemon_blocks_shares_not_whole_gpus(tmp_path: Path) -> None:
    plugin, _, _ = nvidia(tmp_path, runner=FakeRunner(start_error="MPS is not supported"))
    devices = await plugin.discover()
    await plugin.start()  # logged, not raised
    assert (await plugin.health())["mps"]["0"] == "failed: MPS is not supported"
    with pytest.raises(AcceleratorError, match="failed: MPS is not supported"):
        plugin.container_settings(Allocation("cuda", "shares", {"0": D("0.5")}), devices)
    whole = plugin.container_settings(Allocation("cuda", "whole", {"0": D(1)}), devices)
    assert whole.device_requests[0]["DeviceIDs"] == ["GPU-aaaa"]


async def test_nvidia_without_mps_offers_whole_gpus_only(tmp_path: Path) -> None:
    plugin, _, runner = nvidia(tmp_path, mps=False)
    devices = await plugin.discover()
    await plugin.start()
    assert runner.calls == []
    assert [s.name for s in plugin.slot_types()] == ["cuda.device"]
    assert (await plugin.health())["mps"] == "off"
    with pytest.raises(AcceleratorError, match="MPS is switched off"):
        plugin.container_settings(Allocation("cuda", "shares", {"0": D("0.5")}), devices)


async def test_nvidia_health_names_the_driver(tmp_path: Path) -> None:
    plugin, _, _ = nvidia(tmp_path)
    await plugin.discover()
    health = await plugin.health()
    assert health["nvml"] == "ok" and health["driver_version"] == "550.54.15"
    assert health["devices"] == 2


async def test_run_process_passes_env_and_input_and_reports_missing_programs() -> None:
    got = await run_process(["sh", "-c", 'cat; echo "$BERTH_TEST_X" >&2; exit 3'],
                            {"BERTH_TEST_X": "y"}, "hello")
    assert got == ProcessResult(3, "hello", "y\n")
    missing = await run_process(["/nonexistent/berth-no-such-program"], {}, None)
    assert missing.returncode == 127 and "berth-no-such-program" in missing.stderr


# -- scripts/gpu_check.py ------------------------------------------------------------------

def _gpu_here() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001
        return False
    pynvml.nvmlShutdown()
    return True


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts/gpu_check.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def test_gpu_check_help_works_without_a_gpu() -> None:
    got = _script("--help")
    assert got.returncode == 0
    assert "--out" in got.stdout and "without a container engine" in got.stdout


@pytest.mark.skipif(_gpu_here(), reason="an NVIDIA GPU is here: the script runs the real check")
def test_gpu_check_without_a_gpu_says_so_and_fails(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    got = _script("--out", str(out))
    assert got.returncode == 2
    assert got.stderr.startswith("no NVIDIA GPU: NVML not available: ")
    assert '"ok": false' in out.read_text()
