"""The agent's accelerators: a thin shell over its plugins and the pure rules of
:mod:`berth.domain.devices`.

The MANAGER decides which devices a kernel gets (its scheduler runs the allocator) and sends
them in ``CreateKernel.accelerators``. The agent only checks and applies them: it keeps what
its kernels hold (*held*: kernel id -> allocations, one per plugin), refuses an allocation
that names a plugin or device it lacks or that clashes with what other kernels hold, asks each
plugin what the container needs, and after a restart rebuilds *held* from the allocations its
containers carry on a label. Nothing here chooses a device.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.agent.accelerators.base import (
    AcceleratorError,
    AcceleratorPlugin,
    AcceleratorStats,
    ContainerSettings,
    KernelStats,
)
from berth.agent.accelerators.mock import MockGpuPlugin
from berth.agent.backends.base import BackendError
from berth.domain import devices as rules
from berth.domain.devices import Allocation, Device, fmt
from berth.rpc import AcceleratorInfo, AcceleratorSlotInfo, DeviceInfo
from berth.settings import AgentSettings

log = logging.getLogger(__name__)


class ReserveError(BackendError):
    """A kernel's allocation cannot be applied on this agent; the message is meant for users
    (it becomes the kernel's create-failed reason)."""


def build_plugins(settings: AgentSettings, nvml: Any = None) -> list[AcceleratorPlugin]:
    """The plugins ``settings`` ask for, not yet discovered: NVIDIA unless ``nvidia`` is
    ``off`` (``nvml`` replaces the ``pynvml`` module, for tests), then the MOCK GPU when
    ``mock_gpus`` is set. Raises ValueError for a bad ``mock_gpus`` (settings check it
    first)."""
    plugins: list[AcceleratorPlugin] = []
    if settings.nvidia != "off":
        from berth.agent.accelerators.nvidia import NvidiaPlugin

        # stop_mps_on_close=False: the agent's containers outlive the agent process (a
        # restart or an upgrade must not touch running kernels), and a kernel holding shares
        # runs its CUDA work through its GPU's MPS daemon; quitting the daemon at shutdown
        # would break those kernels. The next start finds the daemons and reuses them.
        plugins.append(NvidiaPlugin(settings.data_dir / "accelerators" / "cuda", nvml=nvml,
                                    mps=settings.nvidia == "auto", stop_mps_on_close=False))
    mock = MockGpuPlugin.from_setting(settings.mock_gpus)
    if mock is not None:
        plugins.append(mock)
    return plugins


@dataclass
class _Entry:
    """One plugin as the agent runs it: its devices (empty: it offers nothing, ``reason``
    says why) and whether :meth:`AcceleratorPlugin.start` ran."""

    plugin: AcceleratorPlugin
    devices: list[Device] = field(default_factory=list)
    reason: str = "not discovered yet"
    started: bool = False

    @property
    def mock(self) -> bool:
        return isinstance(self.plugin, MockGpuPlugin)


class Accelerators:
    """The agent's accelerator plugins and what its kernels hold of them.

    Order of calls: :meth:`start` (discovery), :meth:`restore` (existing containers), then
    any number of :meth:`reserve` / :meth:`release` / :meth:`capacity` / :meth:`infos`, and
    :meth:`close` last. An agent with no plugins (the default for tests) works the same and
    offers nothing. Every method runs on the event loop; :meth:`reserve` checks and holds
    without awaiting, so two creates can never both take the same device.
    """

    def __init__(self, plugins: Sequence[AcceleratorPlugin] = ()) -> None:
        self._entries = [_Entry(p) for p in plugins]
        #: What each kernel holds, one allocation per plugin.
        self.held: dict[str, list[Allocation]] = {}

    @classmethod
    def from_settings(cls, settings: AgentSettings, nvml: Any = None) -> Accelerators:
        return cls(build_plugins(settings, nvml))

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Discover every plugin's devices and start those that have some. A plugin without
        devices offers no slots; its reason is logged once, here. A MOCK plugin is refused
        (logged as an error, no slots) when a real plugin found devices: kernels must never
        get a mock's environment on a node with real accelerators. Never raises for missing
        hardware; safe to call again (plugins' discover and start are idempotent)."""
        for entry in self._entries:
            try:
                entry.devices = await entry.plugin.discover()
                entry.reason = entry.plugin.reason
            except Exception as e:  # noqa: BLE001 - the contract says never; a bug must not stop the agent
                entry.devices, entry.reason = [], f"discovery failed: {e}"
        real = [e.plugin.name for e in self._entries if e.devices and not e.mock]
        for entry in self._entries:
            if entry.mock and entry.devices and real:
                entry.devices = []
                entry.reason = (f"refused: real accelerators ({', '.join(real)}) were found "
                                f"on this node, and a mock is never used beside them")
                log.error("%s: the MOCK GPU plugin is configured (BERTH_AGENT_MOCK_GPUS) but "
                          "%s", entry.plugin.name, entry.reason)
            elif not entry.devices:
                log.info("%s: no devices, no slots offered: %s", entry.plugin.name,
                         entry.reason or "none found")
        for entry in self._entries:
            if entry.devices and not entry.started:
                try:
                    await entry.plugin.start()
                    entry.started = True
                except Exception as e:  # noqa: BLE001 - one broken plugin must not stop the agent
                    log.error("%s: could not start, no slots offered: %s", entry.plugin.name, e)
                    entry.devices, entry.reason = [], f"could not start: {e}"
                    continue
                names = ", ".join(f"{d.id} ({d.model})" for d in entry.devices)
                log.info("%s: %d device(s): %s%s", entry.plugin.name, len(entry.devices), names,
                         " [MOCK, tests and demos only]" if entry.mock else "")

    async def close(self) -> None:
        """Close every plugin (also one without devices: NVML is shut down). Idempotent;
        never raises. Containers and what they hold are left as they are."""
        for entry in self._entries:
            try:
                await entry.plugin.close()
            except Exception as e:  # noqa: BLE001
                log.warning("%s: close failed: %s", entry.plugin.name, e)
            entry.started = False

    # -- what kernels hold ----------------------------------------------------------------

    def _active(self, name: str) -> _Entry | None:
        return next((e for e in self._entries if e.plugin.name == name and e.devices), None)

    def _missing(self, name: str) -> str:
        known = next((e for e in self._entries if e.plugin.name == name), None)
        why = f" ({known.reason})" if known is not None and known.reason else ""
        return f"this agent has no {name} devices{why}"

    def _held_of(self, prefix: str, without: str | None = None) -> dict[str, Allocation]:
        return {k: a for k, allocs in self.held.items() if k != without
                for a in allocs if a.slot_prefix == prefix}

    def reserve(self, kernel_id: str, allocations: Sequence[Mapping[str, Any]]
                ) -> ContainerSettings:
        """Check the manager's ``allocations`` for ``kernel_id`` (``Allocation.to_json``
        dicts, at most one per plugin), hold them, and return what the container needs: every
        plugin's :class:`ContainerSettings` merged. No allocations: empty settings, nothing
        held.

        Raises :class:`ReserveError` (a sentence for users; nothing is held then) for a
        malformed allocation, two of one plugin, a plugin this agent lacks (or whose devices
        were not found), a device not on this agent, a clash with what other kernels hold
        (the rules of :func:`berth.domain.devices.restore`), a plugin that cannot serve it
        (e.g. an MPS daemon down), or a kernel that holds devices already. Not idempotent:
        call :meth:`release` before reserving again for one kernel.
        """
        if not allocations:
            return ContainerSettings()
        if self.held.get(kernel_id):
            raise ReserveError(f"kernel {kernel_id} already holds accelerators on this agent")
        parsed: list[Allocation] = []
        for index, raw in enumerate(allocations):
            try:
                allocation = Allocation.from_json(raw)
            except ValueError as e:
                raise ReserveError(f"accelerators[{index}]: {e}") from None
            if any(a.slot_prefix == allocation.slot_prefix for a in parsed):
                raise ReserveError(f"accelerators: two allocations of {allocation.slot_prefix}")
            parsed.append(allocation)
        merged = ContainerSettings()
        for allocation in parsed:
            entry = self._active(allocation.slot_prefix)
            if entry is None:
                prefix = allocation.slot_prefix
                raise ReserveError(f"{prefix}: {self._missing(prefix)}")
            self._check_fits(entry, kernel_id, allocation)
            try:
                settings = entry.plugin.container_settings(allocation, entry.devices)
            except AcceleratorError as e:
                raise ReserveError(str(e)) from None
            _merge(merged, settings)
        self.held[kernel_id] = parsed
        return merged

    def _check_fits(self, entry: _Entry, kernel_id: str, allocation: Allocation) -> None:
        """ReserveError unless ``allocation`` keeps the rules beside what others hold: the
        pure :func:`~berth.domain.devices.restore` decides (it keeps exactly the held
        allocations and this one only when nothing clashes); :func:`used` says why not."""
        prefix = allocation.slot_prefix
        mine = self._held_of(prefix, without=kernel_id)
        wanted = {**mine, kernel_id: allocation}
        kept, _ = rules.restore(entry.devices, wanted, prefix)
        if kept == wanted:
            return
        use = rules.used(entry.devices, mine, prefix)
        for device_id, amount in allocation.devices.items():
            u = use.get(device_id)
            if u is None:
                raise ReserveError(f"{prefix}: device {device_id} is not on this agent")
            if u.whole:
                raise ReserveError(f"{prefix}: device {device_id} is taken whole by kernel "
                                   f"{', '.join(u.kernels)}")
            holders = f"kernel {', '.join(u.kernels)} hold{'s' if len(u.kernels) == 1 else ''}"
            if allocation.mode == "whole" and u.shares > 0:
                raise ReserveError(f"{prefix}: device {device_id} cannot be given whole: "
                                   f"{holders} {fmt(u.shares)} of it as shares")
            if u.shares + amount > 1:
                raise ReserveError(f"{prefix}: device {device_id} has {fmt(u.free_shares)} "
                                   f"free ({holders} {fmt(u.shares)}), {fmt(amount)} wanted")
        raise ReserveError(f"{prefix}: the allocation clashes with what this agent's kernels "
                           f"hold")  # not reached while restore and used agree

    def release(self, kernel_id: str) -> None:
        """Forget what ``kernel_id`` holds: its devices are free for other kernels.
        Idempotent (an unknown kernel changes nothing)."""
        self.held.pop(kernel_id, None)

    def allocations_json(self, kernel_id: str) -> list[dict[str, Any]]:
        """What ``kernel_id`` holds, as ``Allocation.to_json`` dicts ([] for nothing)."""
        return [a.to_json() for a in self.held.get(kernel_id, [])]

    def restore(self, found: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
        """Rebuild *held* from what this agent's containers carry (kernel id -> allocation
        dicts, read from their labels), replacing it; for :meth:`start` after a restart.

        Keeps every allocation that keeps the rules (:func:`berth.domain.devices.restore`,
        per plugin); drops, logs and returns one sentence per allocation that is malformed,
        names a plugin or device this agent lacks now, or clashes with another kernel's. The
        containers themselves are not touched. Idempotent for equal input."""
        problems: list[str] = []
        wanted: dict[str, list[Allocation]] = {}
        for kernel_id, raws in found.items():
            for raw in raws:
                try:
                    allocation = Allocation.from_json(raw)
                except ValueError as e:
                    problems.append(f"kernel {kernel_id}: {e}")
                    continue
                if any(a.slot_prefix == allocation.slot_prefix for a in wanted.get(kernel_id, [])):
                    problems.append(f"kernel {kernel_id}: two allocations of "
                                    f"{allocation.slot_prefix}, the second ignored")
                    continue
                wanted.setdefault(kernel_id, []).append(allocation)
        held: dict[str, list[Allocation]] = {}
        for prefix in sorted({a.slot_prefix for allocs in wanted.values() for a in allocs}):
            of_prefix = {k: a for k, allocs in wanted.items() for a in allocs
                         if a.slot_prefix == prefix}
            entry = self._active(prefix)
            if entry is None:
                problems += [f"kernel {k}: holds {prefix} devices, but {self._missing(prefix)}"
                             for k in sorted(of_prefix, key=rules.id_key)]
                continue
            kept, dropped = rules.restore(entry.devices, of_prefix, prefix)
            problems += dropped
            for kernel_id, allocation in kept.items():
                held.setdefault(kernel_id, []).append(allocation)
        self.held = held
        for problem in problems:
            log.warning("accelerators not restored: %s (the container keeps running; its "
                        "devices are not counted as held)", problem)
        return problems

    # -- what the agent offers -------------------------------------------------------------

    def capacity(self) -> dict[str, str]:
        """Slot name -> decimal string of what the agent's plugins offer at most (for the
        heartbeat's capacity): ``<prefix>.device`` and, where the plugin shares devices,
        ``<prefix>.shares``; nothing for a plugin without devices."""
        offered: dict[str, str] = {}
        for entry in self._entries:
            if not entry.devices:
                continue
            names = {s.name for s in entry.plugin.slot_types()}
            for slot, amount in rules.capacity(entry.devices, entry.plugin.name).items():
                if slot in names:
                    offered[slot] = fmt(amount)
        return offered

    async def infos(self) -> list[AcceleratorInfo]:
        """Every plugin for the heartbeat: its slots and devices with the latest stats
        (utilization %, memory used; None where unknown); a plugin without devices has no
        slots and says why in ``reason``. Never raises."""
        infos = []
        for entry in self._entries:
            stats = AcceleratorStats()
            if entry.devices:
                try:
                    stats = await entry.plugin.stats()
                except Exception as e:  # noqa: BLE001 - the contract says never; stats are best effort
                    log.warning("%s: no stats: %s", entry.plugin.name, e)
            devices = []
            for d in entry.devices:
                s = stats.devices.get(d.id)
                devices.append(DeviceInfo(id=d.id, memory=d.memory, model=d.model,
                                          utilization=s.utilization if s else None,
                                          memory_used=s.mem_used if s else None))
            slots = [AcceleratorSlotInfo(name=s.name, unit=s.unit, description=s.description,
                                         quantum=fmt(s.quantum))
                     for s in entry.plugin.slot_types()] if entry.devices else []
            infos.append(AcceleratorInfo(name=entry.plugin.name, slots=slots, devices=devices,
                                         reason=entry.reason, mock=entry.mock))
        return infos


    async def kernel_usage(self) -> dict[str, KernelUse]:
        """What each kernel holding devices uses of them now (:func:`kernel_use`), from
        the stats of the plugins some kernel holds devices of (none held: no call). Never
        raises: a plugin whose stats fail is left out (its kernels' figures unknown)."""
        if not self.held:
            return {}
        held_prefixes = {a.slot_prefix for allocs in self.held.values() for a in allocs}
        found: dict[str, tuple[list[Device], AcceleratorStats]] = {}
        for entry in self._entries:
            if entry.devices and entry.plugin.name in held_prefixes:
                try:
                    found[entry.plugin.name] = (entry.devices, await entry.plugin.stats())
                except Exception as e:  # noqa: BLE001 - stats are best effort
                    log.debug("%s: no stats: %s", entry.plugin.name, e)
        return kernel_use(self.held, found)


@dataclass(frozen=True)
class KernelUse:
    """A kernel's use of its accelerators: ``stats`` (utilization %, memory used; None when
    the plugin cannot tell) and ``mem_limit``, the device memory it holds (bytes)."""

    stats: KernelStats | None
    mem_limit: int


def kernel_use(held: Mapping[str, Sequence[Allocation]],
               plugins: Mapping[str, tuple[Sequence[Device], AcceleratorStats]]
               ) -> dict[str, KernelUse]:
    """Per kernel of ``held``, its use of the devices of ``plugins`` (prefix -> devices and
    their stats). Pure. The plugin's own per-kernel figures win; a kernel holding *whole*
    devices is otherwise its devices' figures (mean utilization, summed memory used), since
    nothing else runs on them; one holding *shares* is unknown without the plugin's figures.
    ``mem_limit``: the memory of whole devices, ``floor(fraction * memory)`` of a share.
    Several plugins: utilizations averaged, memory summed."""
    out: dict[str, KernelUse] = {}
    for kernel_id, allocations in held.items():
        utils: list[float] = []
        used: list[int] = []
        limit = 0
        for allocation in allocations:
            devices, stats = plugins.get(allocation.slot_prefix, ((), AcceleratorStats()))
            by_id = {d.id: d for d in devices}
            limit += sum(int(by_id[i].memory * amount) for i, amount
                         in allocation.devices.items() if i in by_id)
            own = stats.kernels.get(kernel_id)
            device_stats = [stats.devices[i] for i in allocation.devices if i in stats.devices]
            whole = allocation.mode == "whole" and len(device_stats) == len(allocation.devices)
            util = own.utilization if own is not None else None
            if util is None and whole:
                known = [d.utilization for d in device_stats if d.utilization is not None]
                util = sum(known) / len(known) if known else None
            if util is not None:
                utils.append(util)
            if own is not None:
                used.append(own.mem_used)
            elif whole:
                used.append(sum(d.mem_used for d in device_stats))
        stats_ = (KernelStats(kernel_id, sum(utils) / len(utils) if utils else None,
                              sum(used)) if utils or used else None)
        out[kernel_id] = KernelUse(stats_, limit)
    return out


def _merge(into: ContainerSettings, more: ContainerSettings) -> None:
    """Add ``more`` to ``into``; ReserveError when two plugins set one variable differently
    (their settings would overwrite each other)."""
    for key, value in more.env.items():
        if into.env.get(key, value) != value:
            raise ReserveError(f"accelerators: two plugins set {key} differently")
        into.env[key] = value
    into.device_requests += more.device_requests
    into.mounts += more.mounts
    into.ipc_host = into.ipc_host or more.ipc_host
