"""The NVIDIA GPU plugin (slot prefix ``cuda``): NVML for discovery and stats, the engine's
device requests for whole GPUs, and MPS (:mod:`berth.agent.accelerators.mps`) for shares.

NVML comes from the ``nvidia-ml-py`` package (module ``pynvml``), imported when first
needed, so that the agent runs on machines without NVIDIA's library; tests inject a fake
module. NVML calls block (briefly, but ``nvmlInit`` can take seconds on a GPU without
persistence mode), so they run in a worker thread.

Shares and host IPC: an MPS client and its server exchange work through shared memory in
the IPC namespace, so a container holding shares joins the host's IPC namespace
(``ipc_host``). The cost: such a kernel can see and attach to the host's System V IPC objects
and POSIX shared memory (``/dev/shm``), including those of other kernels that share a GPU,
and the container's own shared-memory size limit no longer applies. Admins who do not accept
that run the plugin with ``mps=False``: it then offers whole GPUs only.

MPS daemons are started by :meth:`NvidiaPlugin.start` for every GPU discovered, not when
the first share is allocated: starting one takes a moment and can fail, which is better
found at agent start (and reported by :meth:`NvidiaPlugin.health`) than while a user waits.
A daemon costs little until a client connects (the daemon starts a server only then).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from berth.agent.accelerators.base import (
    AcceleratorError,
    AcceleratorSlot,
    AcceleratorStats,
    ContainerSettings,
    DeviceStats,
    KernelStats,
    devices_of,
    share_env,
    slot_types_for,
    whole_env,
)
from berth.agent.accelerators.mps import MpsDaemon, Runner, run_process
from berth.domain.devices import DEFAULT_QUANTUM, Allocation, Device, device_slot

log = logging.getLogger(__name__)

NVIDIA_NAME = "cuda"
#: Where a kernel holding shares finds its GPU's MPS pipe directory.
CONTAINER_PIPE_DIR = "/tmp/nvidia-mps"


def _text(value: Any) -> str:
    """NVML strings: older ``pynvml`` versions return bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


class NvidiaPlugin:
    """NVIDIA GPUs through NVML; implements
    :class:`~berth.agent.accelerators.base.AcceleratorPlugin`. Device ids are NVML indexes
    (``"0"``, ``"1"``); containers are handed GPUs by UUID.

    ``state_dir`` holds the MPS pipe and log directories; ``nvml`` replaces the ``pynvml``
    module (tests); ``runner`` runs the MPS control commands; ``mps=False`` offers whole GPUs
    only; ``stop_mps_on_close=False`` leaves the daemons running at :meth:`close` (an agent
    that restarts while kernels hold shares; :meth:`start` then reuses them);
    ``kernel_of_pid`` names the kernel a GPU process belongs to (None: no per-kernel stats).
    """

    name = NVIDIA_NAME

    def __init__(self, state_dir: Path, quantum: Decimal = DEFAULT_QUANTUM, *,
                 nvml: Any = None, runner: Runner = run_process, mps: bool = True,
                 stop_mps_on_close: bool = True,
                 kernel_of_pid: Callable[[int], str | None] | None = None) -> None:
        self._state_dir = state_dir
        self._quantum = quantum
        self._nvml = nvml
        self._runner = runner
        self._mps_enabled = mps
        self._stop_mps_on_close = stop_mps_on_close
        self._kernel_of_pid = kernel_of_pid
        self._initialized = False
        self._devices: list[Device] = []
        self._uuids: dict[str, str] = {}
        self._mps: dict[str, MpsDaemon] = {}
        self.reason = "not discovered yet"

    def slot_types(self) -> list[AcceleratorSlot]:
        slots = slot_types_for(self.name, "NVIDIA GPU", self._quantum)
        return slots if self._mps_enabled else [s for s in slots
                                                if s.name == device_slot(self.name)]

    # -- NVML ---------------------------------------------------------------------------

    def _init(self) -> Any:
        """The NVML module, initialized; None (with :attr:`reason` set) when unavailable."""
        if self._initialized:
            return self._nvml
        try:
            if self._nvml is None:
                self._nvml = importlib.import_module("pynvml")
            self._nvml.nvmlInit()
        except ImportError as e:
            self.reason = f"NVML not available: the nvidia-ml-py package is missing ({e})"
            return None
        except Exception as e:  # noqa: BLE001 - NVMLError and whatever a broken driver raises
            self.reason = f"NVML not available: {e}"
            return None
        self._initialized = True
        return self._nvml

    def _discover(self) -> list[Device]:
        nvml = self._init()
        if nvml is None:
            return []
        devices, uuids = [], {}
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                devices.append(Device(str(index), int(memory.total),
                                      _text(nvml.nvmlDeviceGetName(handle))))
                uuids[str(index)] = _text(nvml.nvmlDeviceGetUUID(handle))
        except Exception as e:  # noqa: BLE001
            self.reason = f"NVML could not list GPUs: {e}"
            return []
        self._devices, self._uuids = devices, uuids
        self.reason = "" if devices else "NVML found no NVIDIA GPU"
        return list(devices)

    async def discover(self) -> list[Device]:
        return await asyncio.to_thread(self._discover)

    def _read_stats(self) -> AcceleratorStats:
        stats = AcceleratorStats()
        nvml = self._nvml if self._initialized else None
        if nvml is None:
            return stats
        for device in self._devices:
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(int(device.id))
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                util = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception as e:  # noqa: BLE001 - a GPU that fell off the bus, say
                log.warning("cuda: no stats for GPU %s: %s", device.id, e)
                continue
            stats.devices[device.id] = DeviceStats(device.id, util, int(memory.used),
                                                   int(memory.total))
            if self._kernel_of_pid is not None:
                self._add_kernel_memory(nvml, handle, stats.kernels)
        return stats

    def _add_kernel_memory(self, nvml: Any, handle: Any, kernels: dict[str, KernelStats]
                           ) -> None:
        """Best effort: GPU memory of each kernel's processes; NVML gives no per-process
        utilization cheaply, so that stays unknown."""
        assert self._kernel_of_pid is not None
        processes: list[Any] = []
        for getter in ("nvmlDeviceGetComputeRunningProcesses",
                       "nvmlDeviceGetMPSComputeRunningProcesses"):
            try:
                processes += list(getattr(nvml, getter)(handle))
            except Exception:  # noqa: BLE001 - missing in older drivers: best effort
                continue
        for process in processes:
            kernel_id = self._kernel_of_pid(int(process.pid))
            if kernel_id is None:
                continue
            before = kernels.get(kernel_id, KernelStats(kernel_id, None, 0))
            kernels[kernel_id] = KernelStats(kernel_id, None, before.mem_used
                                             + int(process.usedGpuMemory or 0))

    async def stats(self) -> AcceleratorStats:
        return await asyncio.to_thread(self._read_stats)

    @property
    def mps_daemons(self) -> Mapping[str, MpsDaemon]:
        """The MPS daemons by device id, once :meth:`start` made them."""
        return self._mps

    # -- containers and processes -------------------------------------------------------

    def _uuid(self, device: Device) -> str:
        return self._uuids.get(device.id, device.id)

    def _daemon(self, device: Device) -> MpsDaemon:
        daemon = self._mps.get(device.id)
        if daemon is None or daemon.state != "running":
            state = daemon.state if daemon else ("MPS is switched off on this agent"
                                                 if not self._mps_enabled else "not started")
            raise AcceleratorError(f"cuda.shares: GPU {device.id} cannot be shared now: its "
                                   f"MPS daemon is {state}")
        return daemon

    def container_settings(self, allocation: Allocation, devices: Sequence[Device]
                           ) -> ContainerSettings:
        """Whole: a device request for the GPUs (by UUID) and ``CUDA_VISIBLE_DEVICES``.
        Shares: a device request for the one GPU, the MPS limits (:func:`share_env`), its
        pipe directory mounted at :data:`CONTAINER_PIPE_DIR` and the host's IPC namespace
        (see the module docstring); AcceleratorError when its MPS daemon is not running."""
        held = devices_of(self.name, allocation, devices)
        uuids = [self._uuid(d) for d in held]
        requests = [{"Driver": "nvidia", "DeviceIDs": uuids, "Capabilities": [["gpu"]]}]
        if allocation.mode == "whole":
            return ContainerSettings(env=whole_env(uuids), device_requests=requests)
        (device,) = held
        daemon = self._daemon(device)
        env = share_env(uuids[0], allocation.devices[device.id], device.memory)
        env["CUDA_MPS_PIPE_DIRECTORY"] = CONTAINER_PIPE_DIR
        return ContainerSettings(env=env, device_requests=requests,
                                 mounts=[(str(daemon.pipe_dir), CONTAINER_PIPE_DIR, False)],
                                 ipc_host=True)

    def process_env(self, allocation: Allocation, devices: Sequence[Device]) -> dict[str, str]:
        """The environment for a plain host process (not a container) holding
        ``allocation``: the same as a container's, with the host's pipe directory. Raises
        like :meth:`container_settings`."""
        held = devices_of(self.name, allocation, devices)
        uuids = [self._uuid(d) for d in held]
        if allocation.mode == "whole":
            return whole_env(uuids)
        (device,) = held
        daemon = self._daemon(device)
        env = share_env(uuids[0], allocation.devices[device.id], device.memory)
        env["CUDA_MPS_PIPE_DIRECTORY"] = str(daemon.pipe_dir)
        env["CUDA_MPS_LOG_DIRECTORY"] = str(daemon.log_dir)
        return env

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or reuse) an MPS daemon per discovered GPU, unless ``mps=False``. A daemon
        that fails is logged and shown by :meth:`health`; its GPU can still be given whole."""
        if not self._mps_enabled:
            return
        for device in self._devices:
            daemon = self._mps.get(device.id)
            if daemon is None:
                daemon = MpsDaemon(device.id, self._uuid(device), self._state_dir, self._runner)
                self._mps[device.id] = daemon
            if daemon.state == "running":
                continue
            try:
                await daemon.start()
            except AcceleratorError as e:
                log.warning("cuda: %s", e)

    async def close(self) -> None:
        """Stop the MPS daemons (unless ``stop_mps_on_close=False``) and shut NVML down."""
        if self._stop_mps_on_close:
            for daemon in self._mps.values():
                await daemon.stop()
        if self._initialized:
            self._initialized = False
            try:
                await asyncio.to_thread(self._nvml.nvmlShutdown)
            except Exception as e:  # noqa: BLE001
                log.warning("cuda: NVML shutdown failed: %s", e)

    async def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {"plugin": self.name, "devices": len(self._devices),
                                "nvml": "ok" if self._initialized else self.reason}
        if self._initialized:
            try:
                info["driver_version"] = _text(
                    await asyncio.to_thread(self._nvml.nvmlSystemGetDriverVersion))
            except Exception as e:  # noqa: BLE001
                info["driver_version"] = f"unknown: {e}"
        info["mps"] = ({d.gpu: d.state for d in self._mps.values()} if self._mps_enabled
                       else "off")
        return info
