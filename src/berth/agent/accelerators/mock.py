"""A MOCK GPU plugin for tests and demos: devices that exist only in configuration.

It offers ``mock-gpu.device`` and ``mock-gpu.shares`` like a real plugin and gives kernels
the same environment the NVIDIA plugin gives (plus ``BERTH_MOCK_GPU=1``), but no device
reaches the container and its utilization is whatever a test sets. It is off unless an
admin configures devices (:meth:`MockGpuPlugin.from_setting`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from berth.agent.accelerators.base import (
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
from berth.domain.devices import DEFAULT_QUANTUM, Allocation, Device, id_key
from berth.domain.rules import RuleError, parse_size

MOCK_NAME = "mock-gpu"
FIELD = "mock GPU devices"


def _item(index: int, raw: Any) -> Device:
    where = f"{FIELD}[{index}]"
    if isinstance(raw, str):
        parts = raw.strip().split(":", 2)
        if len(parts) < 2:
            raise ValueError(f"{where}: {raw.strip()!r} must be id:memory or id:memory:model, "
                             f"e.g. 0:16g")
        raw = {"id": parts[0], "memory": parts[1], "model": parts[2] if len(parts) > 2 else ""}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be an object with id, memory and model")
    device_id, memory, model = raw.get("id"), raw.get("memory"), raw.get("model", "")
    if isinstance(device_id, int) and not isinstance(device_id, bool):
        device_id = str(device_id)
    if not isinstance(device_id, str) or not device_id.strip():
        raise ValueError(f"{where}.id: must be a non-empty string")
    if not isinstance(memory, str | int) or isinstance(memory, bool):
        raise ValueError(f"{where}.memory: must be a size such as 16g or a number of bytes")
    if not isinstance(model, str):
        raise ValueError(f"{where}.model: must be a string")
    try:
        size = parse_size(memory, field=f"{where}.memory")
    except RuleError as e:
        raise ValueError(str(e)) from None
    return Device(device_id.strip(), size, model.strip() or "mock GPU")


def parse_mock_devices(text: str) -> list[Device]:
    """Mock devices from ``"0:16g,1:16g"`` (``id:memory[:model]``, comma-separated) or JSON
    (a list of such strings or of ``{"id", "memory", "model"}`` objects; memory as a size or
    bytes). Empty text: no devices. Raises ValueError naming the item and field at fault, and
    for a duplicate id. Returns the devices in id order."""
    text = text.strip()
    if not text:
        return []
    items: list[Any]
    if text[0] in "[{":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{FIELD}: not valid JSON ({e})") from None
        items = loaded if isinstance(loaded, list) else [loaded]
    else:
        items = [p for p in text.split(",") if p.strip()]
    devices = [_item(i, raw) for i, raw in enumerate(items)]
    seen: set[str] = set()
    for device in devices:
        if device.id in seen:
            raise ValueError(f"{FIELD}: device id {device.id!r} appears twice")
        seen.add(device.id)
    return sorted(devices, key=lambda d: id_key(d.id))


class MockGpuPlugin:
    """A MOCK accelerator plugin (tests and demos); see the module docstring. Implements
    :class:`~berth.agent.accelerators.base.AcceleratorPlugin`."""

    name = MOCK_NAME

    def __init__(self, devices: Sequence[Device], quantum: Decimal = DEFAULT_QUANTUM) -> None:
        self._devices = sorted(devices, key=lambda d: id_key(d.id))
        self._quantum = quantum
        self._utilization: dict[str, tuple[float, int]] = {}
        self._kernels: dict[str, KernelStats] = {}
        self.reason = "" if self._devices else "no mock GPU devices configured"
        self.started = False

    @classmethod
    def from_setting(cls, text: str, quantum: Decimal = DEFAULT_QUANTUM
                     ) -> MockGpuPlugin | None:
        """The plugin for an admin's setting (see :func:`parse_mock_devices`); None when the
        setting is empty, so that the mock is off unless configured. Raises ValueError."""
        devices = parse_mock_devices(text)
        return cls(devices, quantum) if devices else None

    def slot_types(self) -> list[AcceleratorSlot]:
        return slot_types_for(self.name, "mock GPU (tests and demos)", self._quantum)

    async def discover(self) -> list[Device]:
        return list(self._devices)

    def container_settings(self, allocation: Allocation, devices: Sequence[Device]
                           ) -> ContainerSettings:
        """``CUDA_VISIBLE_DEVICES`` of the devices (whole), or the NVIDIA plugin's MPS
        environment for the one device (shares); always ``BERTH_MOCK_GPU=1``. No device
        requests, mounts or host IPC: nothing real is handed over."""
        held = devices_of(self.name, allocation, devices)
        env = {"BERTH_MOCK_GPU": "1"}
        if allocation.mode == "whole":
            env.update(whole_env([d.id for d in held]))
        else:
            (device,) = held
            env.update(share_env(device.id, allocation.devices[device.id], device.memory))
        return ContainerSettings(env=env)

    def set_utilization(self, device_id: str, util_percent: float, mem_used: int) -> None:
        """What :meth:`stats` reports for ``device_id`` from now on (KeyError: unknown id)."""
        if device_id not in {d.id for d in self._devices}:
            raise KeyError(f"mock GPU device {device_id!r} is not configured")
        self._utilization[device_id] = (util_percent, mem_used)

    def set_kernel_stats(self, kernel_id: str, util_percent: float | None, mem_used: int
                         ) -> None:
        """What :meth:`stats` reports for ``kernel_id`` from now on."""
        self._kernels[kernel_id] = KernelStats(kernel_id, util_percent, mem_used)

    def clear_kernel_stats(self, kernel_id: str) -> None:
        self._kernels.pop(kernel_id, None)

    async def stats(self) -> AcceleratorStats:
        """The values set by :meth:`set_utilization` (0 % and 0 bytes used otherwise) and
        :meth:`set_kernel_stats`."""
        devices = {}
        for d in self._devices:
            util, mem = self._utilization.get(d.id, (0.0, 0))
            devices[d.id] = DeviceStats(d.id, util, mem, d.memory)
        return AcceleratorStats(devices, dict(self._kernels))

    async def health(self) -> dict[str, Any]:
        return {"plugin": self.name, "mock": True, "devices": len(self._devices),
                "started": self.started}

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False
