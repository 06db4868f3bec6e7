"""Accelerator devices: which kernel holds which device, whole or in shares. Pure, no I/O.

An accelerator plugin (``cuda``, ``mock-gpu``) offers two slots under its slot prefix:
``<prefix>.device``, whole devices (an integer count), and ``<prefix>.shares``, a fraction of
ONE device (a multiple of the resource group's quantum, above 0 and at most 1). The agent
keeps a *held* mapping (kernel id -> :class:`Allocation`), asks :func:`allocate` for each new
kernel, drops a kernel with :func:`release` and, after a restart, rebuilds the mapping from
the allocations stored on its containers with :func:`restore`.

Every function here keeps these rules:

- a device holding any shares is never given whole, and a device given whole takes no shares;
- the shares on one device never add up above 1;
- :func:`allocate` never over-allocates, and :func:`release` frees exactly what the kernel took;
- equal input gives equal output (devices are ordered by id, numbers before letters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from berth.domain.rules import RuleError, RuleErrors

Mode = Literal["whole", "shares"]
Policy = Literal["fill", "spread"]
Held = Mapping[str, "Allocation"]

#: The step of a shares request unless the resource group sets another one.
DEFAULT_QUANTUM = Decimal("0.1")
ZERO = Decimal(0)
ONE = Decimal(1)


def device_slot(prefix: str) -> str:
    """The slot of whole devices of a plugin, e.g. ``cuda.device``."""
    return f"{prefix}.device"


def shares_slot(prefix: str) -> str:
    """The slot of a fraction of one device of a plugin, e.g. ``cuda.shares``."""
    return f"{prefix}.shares"


def fmt(amount: Decimal) -> str:
    """``0.5``, ``1``, ``10``: a Decimal as users write it (and as JSON carries it)."""
    return format(amount.normalize(), "f")


def id_key(device_id: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key of device ids: digit runs by value (``2`` before ``10``), then text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", device_id) if part)


@dataclass(frozen=True)
class Device:
    """One accelerator device as its plugin discovered it: ``memory`` in bytes."""

    id: str
    memory: int
    model: str = ""


@dataclass(frozen=True)
class Allocation:
    """What one kernel holds of one plugin's devices.

    ``whole``: every device id in ``devices`` maps to 1. ``shares``: exactly one device id maps
    to the fraction held (0 < fraction <= 1). Constructing an inconsistent one raises
    ValueError naming the field. Travels as JSON (:meth:`to_json`, amounts as strings) in RPC
    messages, database rows and container labels. Not hashable (``devices`` is a dict).
    """

    slot_prefix: str
    mode: Mode
    devices: dict[str, Decimal]

    def __post_init__(self) -> None:
        if not self.slot_prefix:
            raise ValueError("allocation: slot_prefix must not be empty")
        if self.mode not in ("whole", "shares"):
            raise ValueError(f"allocation: mode must be 'whole' or 'shares', not {self.mode!r}")
        if not self.devices:
            raise ValueError("allocation: devices must name at least one device")
        if self.mode == "whole":
            if any(v != ONE for v in self.devices.values()):
                raise ValueError("allocation: a whole allocation maps every device to 1")
            return
        if len(self.devices) != 1:
            raise ValueError("allocation: a shares allocation names exactly one device")
        (fraction,) = self.devices.values()
        if not (fraction.is_finite() and ZERO < fraction <= ONE):
            raise ValueError(f"allocation: shares must be above 0 and at most 1, "
                             f"not {fmt(fraction) if fraction.is_finite() else fraction}")

    def slots(self) -> dict[str, Decimal]:
        """The slot amounts this allocation stands for: ``{"cuda.device": 2}`` or
        ``{"cuda.shares": 0.5}``."""
        if self.mode == "whole":
            return {device_slot(self.slot_prefix): Decimal(len(self.devices))}
        return {shares_slot(self.slot_prefix): sum(self.devices.values(), ZERO)}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` gives an equal allocation back."""
        return {"slot_prefix": self.slot_prefix, "mode": self.mode,
                "devices": {k: fmt(v) for k, v in self.devices.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Allocation:
        """Parse :meth:`to_json`'s dict, or its JSON text (a container label). Raises
        ValueError naming the field for anything malformed (labels are untrusted input)."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as e:
                raise ValueError(f"allocation: not JSON ({e})") from None
        if not isinstance(data, Mapping):
            raise ValueError("allocation: must be a JSON object")
        prefix, mode, devices = data.get("slot_prefix"), data.get("mode"), data.get("devices")
        if not isinstance(prefix, str):
            raise ValueError("allocation: slot_prefix must be a string")
        if mode not in ("whole", "shares"):
            raise ValueError(f"allocation: mode must be 'whole' or 'shares', not {mode!r}")
        if not isinstance(devices, Mapping):
            raise ValueError("allocation: devices must be an object of device id -> amount")
        amounts: dict[str, Decimal] = {}
        for key, value in devices.items():
            if not isinstance(key, str) or isinstance(value, bool):
                raise ValueError(f"allocation: devices.{key} must be a decimal amount")
            try:
                amounts[key] = Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"allocation: devices.{key} must be a decimal amount, "
                                 f"not {value!r}") from None
        return cls(prefix, mode, amounts)


@dataclass(frozen=True)
class Shortage:
    """The devices cannot serve the request now (it may fit later): ``slot`` is the slot that
    is short, ``reason`` a sentence for users that says what is missing."""

    slot: str
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class DeviceUse:
    """How a device is held now: ``whole`` by a kernel, or ``shares`` (their sum) by
    ``kernels`` (sorted)."""

    id: str
    whole: bool
    shares: Decimal
    kernels: tuple[str, ...]

    @property
    def free_shares(self) -> Decimal:
        """The largest fraction a new kernel could take on this device (0 when held whole)."""
        return ZERO if self.whole else max(ONE - self.shares, ZERO)

    @property
    def free(self) -> bool:
        """Nobody holds any part of it: it can be given whole."""
        return not self.whole and self.shares == ZERO


def _mine(held: Held, prefix: str | None) -> Iterable[tuple[str, Allocation]]:
    return ((k, a) for k, a in held.items() if prefix is None or a.slot_prefix == prefix)


def used(devices: Iterable[Device], held: Held, prefix: str | None = None
         ) -> dict[str, DeviceUse]:
    """Every device's use, keyed by device id in id order. With ``prefix``, only allocations
    of that slot prefix count (``held`` may hold several plugins'); without, all of them do.
    Allocations naming devices not in ``devices`` are ignored here (:func:`restore` reports
    them)."""
    whole: dict[str, bool] = {}
    shares: dict[str, Decimal] = {}
    kernels: dict[str, list[str]] = {}
    ids = sorted({d.id for d in devices}, key=id_key)
    for device_id in ids:
        whole[device_id], shares[device_id], kernels[device_id] = False, ZERO, []
    for kernel_id, allocation in _mine(held, prefix):
        for device_id, amount in allocation.devices.items():
            if device_id not in whole:
                continue
            if allocation.mode == "whole":
                whole[device_id] = True
            else:
                shares[device_id] += amount
            kernels[device_id].append(kernel_id)
    return {i: DeviceUse(i, whole[i], shares[i], tuple(sorted(kernels[i], key=id_key)))
            for i in ids}


def validate_request(request: Mapping[str, Decimal], prefix: str,
                     quantum: Decimal = DEFAULT_QUANTUM, cluster_size: int = 1
                     ) -> list[RuleError]:
    """Every rule ``request``'s ``<prefix>.*`` amounts break, at most one per slot (empty: it
    is valid). Other slots in ``request`` are not looked at. ``.device`` is a whole number;
    ``.shares`` is above 0, at most 1 and a multiple of ``quantum``; not both at once; a
    cluster session (``cluster_size`` >= 2) asks for whole devices only. Raises ValueError
    for a ``quantum`` outside (0, 1] (a configuration error, not the user's)."""
    if not (quantum.is_finite() and ZERO < quantum <= ONE):
        raise ValueError(f"quantum must be above 0 and at most 1, not {quantum}")
    dev, sh = device_slot(prefix), shares_slot(prefix)
    errors: list[RuleError] = []
    amounts: dict[str, Decimal] = {}
    for slot in (dev, sh):
        amount = request.get(slot)
        if amount is None:
            continue
        if not amount.is_finite():
            errors.append(RuleError(slot, "must be a number"))
        elif amount < ZERO:
            errors.append(RuleError(slot, "must not be negative"))
        elif slot == dev and amount != amount.to_integral_value():
            errors.append(RuleError(slot, f"must be a whole number of devices (not {fmt(amount)}"
                                          f"); for a fraction of one device ask for {sh}"))
        elif slot == sh and amount > ONE:
            errors.append(RuleError(slot, f"{fmt(amount)} is more than one device: shares are "
                                          f"a fraction of one device (at most 1); ask for "
                                          f"whole devices with {dev} instead"))
        elif slot == sh and amount % quantum != ZERO:
            errors.append(RuleError(slot, f"{fmt(amount)} is not a multiple of the step "
                                          f"{fmt(quantum)}"))
        else:
            amounts[slot] = amount
    if amounts.get(dev, ZERO) > ZERO and amounts.get(sh, ZERO) > ZERO:
        errors.append(RuleError(sh, f"ask for either {dev} (whole devices) or {sh} (a fraction "
                                    f"of one device), not both"))
    elif cluster_size >= 2 and amounts.get(sh, ZERO) > ZERO:
        errors.append(RuleError(sh, f"cluster sessions (2 or more kernels) may use whole "
                                    f"devices only: ask for a whole number of {dev}"))
    return errors


def allocate(devices: Iterable[Device], held: Held, request: Mapping[str, Decimal],
             prefix: str, quantum: Decimal = DEFAULT_QUANTUM, policy: Policy = "fill"
             ) -> Allocation | Shortage | None:
    """Choose devices for a kernel's ``request`` (slot name -> amount), given what kernels
    already ``held`` (only allocations of ``prefix`` count).

    Returns None when the request asks nothing of ``prefix``; an :class:`Allocation` that
    keeps every rule of this module; or a :class:`Shortage` saying why it does not fit now.
    Whole devices: the free ones first in id order (free devices are all equally unused, so
    the policy does not change that choice). Shares: the device that fits with the most
    shares used (``fill``, packing) or the fewest (``spread``), then by id. Raises
    :class:`RuleErrors` when the request breaks a rule of :func:`validate_request` (the
    manager checks it first; this is the agent's last line). Does not change ``held``.
    """
    if policy not in ("fill", "spread"):
        raise ValueError(f"policy must be 'fill' or 'spread', not {policy!r}")
    errors = validate_request(request, prefix, quantum)
    if errors:
        raise RuleErrors(errors)
    count = request.get(device_slot(prefix), ZERO)
    fraction = request.get(shares_slot(prefix), ZERO)
    use = used(devices, held, prefix)
    if count > ZERO:
        return _whole(use, int(count), prefix)
    if fraction > ZERO:
        return _shares(use, fraction, prefix, policy)
    return None


def _whole(use: Mapping[str, DeviceUse], count: int, prefix: str) -> Allocation | Shortage:
    slot = device_slot(prefix)
    free = [u.id for u in use.values() if u.free]
    if len(free) >= count:
        return Allocation(prefix, "whole", {i: ONE for i in free[:count]})
    wanted = f"{count} whole device{'s' if count != 1 else ''} wanted"
    if len(use) < count:
        return Shortage(slot, f"{slot}: {wanted}, this agent has {len(use)}")
    whole = sum(1 for u in use.values() if u.whole)
    shared = len(use) - whole - len(free)
    return Shortage(slot, f"{slot}: {wanted}, {len(free)} free ({whole} taken whole, "
                          f"{shared} holding shares)")


def _shares(use: Mapping[str, DeviceUse], fraction: Decimal, prefix: str, policy: Policy
            ) -> Allocation | Shortage:
    slot = shares_slot(prefix)
    fits = [u for u in use.values() if u.free_shares >= fraction]
    if fits:
        sign = -1 if policy == "fill" else 1
        best = min(fits, key=lambda u: (sign * u.shares, id_key(u.id)))
        return Allocation(prefix, "shares", {best.id: fraction})
    if not use:
        return Shortage(slot, f"{slot}: this agent has no {prefix} devices")
    open_ = [u for u in use.values() if not u.whole]
    if not open_:
        return Shortage(slot, f"{slot}: no device has {fmt(fraction)} free (all {len(use)} "
                              f"are taken whole)")
    most = min(open_, key=lambda u: (-u.free_shares, id_key(u.id)))
    return Shortage(slot, f"{slot}: no device has {fmt(fraction)} free (most free: "
                          f"{fmt(most.free_shares)} on device {most.id})")


def release(held: Held, kernel_id: str) -> dict[str, Allocation]:
    """``held`` without ``kernel_id``'s allocation: exactly what it took becomes free.
    Idempotent: an unknown kernel id changes nothing. Returns a new mapping."""
    return {k: a for k, a in held.items() if k != kernel_id}


def capacity(devices: Iterable[Device], prefix: str) -> dict[str, Decimal]:
    """What the devices offer at most: ``n`` whole devices, or ``n`` devices' worth of
    shares (never both at once for one device; see :func:`available`)."""
    n = Decimal(len({d.id for d in devices}))
    return {device_slot(prefix): n, shares_slot(prefix): n}


def available(devices: Iterable[Device], held: Held, prefix: str,
              quantum: Decimal = DEFAULT_QUANTUM) -> dict[str, Decimal]:
    """What one new kernel could get now: ``<prefix>.device`` = whole devices free,
    ``<prefix>.shares`` = the largest shares request (a multiple of ``quantum``) that fits."""
    use = used(devices, held, prefix).values()
    largest = max((u.free_shares for u in use), default=ZERO)
    return {device_slot(prefix): Decimal(sum(1 for u in use if u.free)),
            shares_slot(prefix): (largest // quantum) * quantum}


@dataclass(frozen=True)
class DeviceSummary:
    """One device for admins: ``state`` is ``whole``, ``shared`` or ``free``."""

    id: str
    model: str
    state: Literal["whole", "shared", "free"]
    shares_used: Decimal
    shares_free: Decimal
    kernels: tuple[str, ...]


@dataclass(frozen=True)
class Fragmentation:
    """How split up the devices are: per device, plus the largest shares request and the
    number of whole devices that a new kernel could get now."""

    devices: tuple[DeviceSummary, ...]
    largest_shares_fit: Decimal
    whole_free: int

    def to_json(self) -> dict[str, Any]:
        return {
            "devices": [{"id": d.id, "model": d.model, "state": d.state,
                         "shares_used": fmt(d.shares_used), "shares_free": fmt(d.shares_free),
                         "kernels": list(d.kernels)} for d in self.devices],
            "largest_shares_fit": fmt(self.largest_shares_fit),
            "whole_free": self.whole_free,
        }

    def describe(self) -> str:
        """Lines an admin reads: ``device 0 (H100): shared, 0.6 used, 0.4 free (k1, k2)``."""
        lines = []
        for d in self.devices:
            name = f"device {d.id}" + (f" ({d.model})" if d.model else "")
            owners = f" ({', '.join(d.kernels)})" if d.kernels else ""
            if d.state == "shared":
                lines.append(f"{name}: shared, {fmt(d.shares_used)} used, "
                             f"{fmt(d.shares_free)} free{owners}")
            else:
                lines.append(f"{name}: {d.state}{owners}")
        lines.append(f"largest shares request that fits now: {fmt(self.largest_shares_fit)}; "
                     f"whole devices free now: {self.whole_free}")
        return "\n".join(lines)


def fragmentation(devices: Iterable[Device], held: Held, prefix: str | None = None,
                  quantum: Decimal = DEFAULT_QUANTUM) -> Fragmentation:
    """A summary of ``devices`` under ``held`` (``prefix`` as in :func:`used`)."""
    devices = list(devices)
    models = {d.id: d.model for d in devices}
    use = used(devices, held, prefix).values()
    summaries = tuple(
        DeviceSummary(u.id, models[u.id],
                      "whole" if u.whole else "shared" if u.shares > ZERO else "free",
                      ONE if u.whole else u.shares, u.free_shares, u.kernels)
        for u in use)
    largest = max((u.free_shares for u in use), default=ZERO)
    return Fragmentation(summaries, (largest // quantum) * quantum,
                         sum(1 for u in use if u.free))


def restore(devices: Iterable[Device], allocations: Mapping[str, Allocation],
            prefix: str | None = None) -> tuple[dict[str, Allocation], list[str]]:
    """Rebuild the held mapping from what running containers hold (kernel id -> allocation,
    read from their labels) after an agent restart.

    Returns ``(held, problems)``: every allocation that keeps the rules, and one sentence per
    allocation dropped because it names a device that is not in ``devices`` or would
    over-allocate one (taken whole twice, whole and shares mixed, shares above 1). Kernels are
    taken in id order, so of two conflicting ones the first id stays. With ``prefix``,
    allocations of other prefixes are skipped silently (another plugin's). Restoring the
    held mapping that :func:`allocate` built gives it back unchanged with no problems.
    """
    devices = list(devices)
    known = {d.id for d in devices}
    held: dict[str, Allocation] = {}
    problems: list[str] = []
    for kernel_id in sorted(allocations, key=id_key):
        allocation = allocations[kernel_id]
        if prefix is not None and allocation.slot_prefix != prefix:
            continue
        use = used(devices, held, allocation.slot_prefix)
        problem = _conflict(allocation, use, known)
        if problem:
            problems.append(f"kernel {kernel_id}: {allocation.slot_prefix} {problem}")
        else:
            held[kernel_id] = allocation
    return held, problems


def _conflict(allocation: Allocation, use: Mapping[str, DeviceUse], known: set[str]
              ) -> str | None:
    for device_id, amount in sorted(allocation.devices.items(), key=lambda i: id_key(i[0])):
        if device_id not in known:
            return f"device {device_id} is not on this agent"
        u = use[device_id]
        if u.whole:
            return f"device {device_id} is already taken whole by {', '.join(u.kernels)}"
        if allocation.mode == "whole" and u.shares > ZERO:
            return f"device {device_id} (whole) already holds shares of {', '.join(u.kernels)}"
        if u.shares + amount > ONE:
            return f"shares on device {device_id} would add up to {fmt(u.shares + amount)}"
    return None
