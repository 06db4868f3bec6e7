"""The small interface between the agent and an accelerator plugin, and what plugins share.

A plugin discovers its devices, says what a kernel's container needs for an
:class:`~berth.domain.devices.Allocation` (environment, engine device requests, mounts, IPC
mode) and reports utilization. Which devices a kernel gets is decided elsewhere, by the pure
allocator in :mod:`berth.domain.devices`; plugins never choose devices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple, Protocol

from berth.domain.devices import Allocation, Device, device_slot, shares_slot


class AcceleratorError(RuntimeError):
    """A plugin cannot set up a kernel's devices; the message is meant for users."""


class AcceleratorSlot(NamedTuple):
    """A slot a plugin offers: name, unit, description for users, and the step of amounts
    (1 for whole devices; the group quantum for shares)."""

    name: str
    unit: Literal["count"]
    description: str
    quantum: Decimal


def slot_types_for(prefix: str, noun: str, quantum: Decimal) -> list[AcceleratorSlot]:
    """The two slots of a plugin with slot prefix ``prefix``; ``noun`` names one device for
    users (``"NVIDIA GPU"``, ``"mock GPU (tests and demos)"``)."""
    return [
        AcceleratorSlot(device_slot(prefix), "count", f"whole {noun} devices", Decimal(1)),
        AcceleratorSlot(shares_slot(prefix), "count",
                        f"fraction of one {noun} (step {quantum.normalize()})", quantum),
    ]


@dataclass
class ContainerSettings:
    """What a kernel's container needs for its allocation, for the backend to merge into its
    create request: ``env`` variables; ``device_requests`` in the Docker Engine API's
    ``HostConfig.DeviceRequests`` format; ``mounts`` as (host source, container target,
    read only); ``ipc_host`` to join the host's IPC namespace (``HostConfig.IpcMode``)."""

    env: dict[str, str] = field(default_factory=dict)
    device_requests: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[tuple[str, str, bool]] = field(default_factory=list)
    ipc_host: bool = False


@dataclass(frozen=True)
class DeviceStats:
    """A device now: ``utilization`` in percent of its compute over the last sample period
    (None: unknown), memory in bytes."""

    device_id: str
    utilization: float | None
    mem_used: int
    mem_total: int


@dataclass(frozen=True)
class KernelStats:
    """One kernel's use of a plugin's devices, where the plugin can tell (None: unknown)."""

    kernel_id: str
    utilization: float | None
    mem_used: int


@dataclass
class AcceleratorStats:
    """``devices`` by device id; ``kernels`` by kernel id (may be empty)."""

    devices: dict[str, DeviceStats] = field(default_factory=dict)
    kernels: dict[str, KernelStats] = field(default_factory=dict)


class AcceleratorPlugin(Protocol):
    """An accelerator plugin as the agent drives it.

    Order of calls: :meth:`discover`, then :meth:`start`; then any number of
    :meth:`container_settings`, :meth:`stats` and :meth:`health`; :meth:`close` last. All of
    them work after an agent restart with kernels still running (their devices are not reset).
    """

    @property
    def name(self) -> str:
        """The plugin's name and slot prefix (``cuda``, ``mock-gpu``); its slots are
        ``<name>.device`` and ``<name>.shares``."""
        ...

    @property
    def reason(self) -> str:
        """Why :meth:`discover` found no device ("" when it found some), for the agent's log."""
        ...

    def slot_types(self) -> list[AcceleratorSlot]:
        """The plugin's slots: ``<name>.device`` (quantum 1) and, where it can share a
        device, ``<name>.shares`` (the group quantum). The agent registers them with
        :func:`berth.domain.slots.register_slot`."""
        ...

    async def discover(self) -> list[Device]:
        """The devices on this node, in id order. Never raises for missing hardware, driver
        or library: returns [] and sets :attr:`reason`. Idempotent."""
        ...

    def container_settings(self, allocation: Allocation, devices: Sequence[Device]
                           ) -> ContainerSettings:
        """What the container of a kernel holding ``allocation`` needs; ``devices`` is what
        :meth:`discover` returned. Pure apart from reading the plugin's state. Raises
        :class:`AcceleratorError` when the allocation is not this plugin's or names an
        unknown device, or when the plugin cannot serve it (e.g. shares without a daemon)."""
        ...

    async def stats(self) -> AcceleratorStats:
        """Utilization and memory per device now (per kernel where known). Never raises: a
        device it cannot read is left out."""
        ...

    async def health(self) -> dict[str, Any]:
        """A JSON-ready summary for admins (library, driver, daemons). Never raises."""
        ...

    async def start(self) -> None:
        """Start what the plugin runs beside kernels (daemons). Idempotent; reuses daemons
        left running by a previous agent process."""
        ...

    async def close(self) -> None:
        """Stop what :meth:`start` started and release libraries. Idempotent."""
        ...


def devices_of(plugin_name: str, allocation: Allocation, devices: Sequence[Device]
               ) -> list[Device]:
    """The devices ``allocation`` names, in its order; AcceleratorError when it belongs to
    another plugin or names a device not in ``devices``."""
    if allocation.slot_prefix != plugin_name:
        raise AcceleratorError(f"{plugin_name}: allocation belongs to "
                               f"{allocation.slot_prefix}, not to this plugin")
    by_id = {d.id: d for d in devices}
    missing = [i for i in allocation.devices if i not in by_id]
    if missing:
        raise AcceleratorError(f"{plugin_name}: device {', '.join(missing)} is not on this node")
    return [by_id[i] for i in allocation.devices]


def whole_env(visible: Sequence[str]) -> dict[str, str]:
    """The environment of a client holding whole devices: ``CUDA_VISIBLE_DEVICES``."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(visible)}


def share_env(visible: str, fraction: Decimal, memory: int) -> dict[str, str]:
    """The environment of a client holding ``fraction`` of one device through NVIDIA MPS:
    ``visible`` goes into ``CUDA_VISIBLE_DEVICES``; at most ``round(fraction * 100)`` % of
    the device's threads; at most ``floor(fraction * memory)`` (in MiB) of its ``memory``
    bytes, pinned on device 0 as the client enumerates it (it sees only this one)."""
    percent = max(1, round(fraction * 100))
    mebibytes = math.floor(fraction * memory / 2**20)
    return {
        "CUDA_VISIBLE_DEVICES": visible,
        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(percent),
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": f"0={mebibytes}M",
    }

