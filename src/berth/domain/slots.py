"""Resource slots: named quantities (``cpu`` cores, ``mem`` bytes, ``shmem`` bytes, accelerators).

Amounts are Decimals so that fractional CPUs and GPUs add up exactly. ``shmem`` is part of
``mem`` and therefore never counted against an agent's capacity on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from berth.domain.rules import format_size

Slots = dict[str, Decimal]


@dataclass(frozen=True)
class SlotType:
    """What a slot is: its unit (``count``: cores, devices; ``bytes``: memory), whether a
    session's request is counted against an agent's capacity, and whether it is an
    accelerator (sessions that need none avoid agents that have some)."""

    name: str
    unit: Literal["count", "bytes"] = "count"
    capacity: bool = True
    accelerator: bool = False
    description: str = ""


#: The slot registry. The built-in slots are here; accelerator plugins add theirs with
#: :func:`register_slot`. ``shmem`` is part of ``mem`` and so bears no capacity of its own.
SLOT_TYPES: dict[str, SlotType] = {
    "cpu": SlotType("cpu", "count", description="CPU cores"),
    "mem": SlotType("mem", "bytes", description="memory"),
    "shmem": SlotType("shmem", "bytes", capacity=False, description="shared memory (in mem)"),
}
#: Agents are ranked by their free amounts of these slots, in this order (then by id): the
#: scheduler spreads onto the highest rank or packs onto the lowest that fits.
RANK_SLOTS = ("mem", "cpu")
#: Slots every session may request by name.
BUILTIN_SLOTS = ("cpu", "mem", "shmem")
#: Accelerator slots a session may request, by name, with what one unit is. Empty until an
#: accelerator plugin registers its slots (e.g. ``"cuda.device": "one GPU"``); any other slot
#: name in a request is refused by name, never dropped. :func:`register_slot` fills it.
ACCELERATOR_SLOTS: dict[str, str] = {}


def register_slot(name: str, description: str = "", unit: Literal["count", "bytes"] = "count",
                  accelerator: bool = True, capacity: bool = True) -> SlotType:
    """Register a slot type (an accelerator plugin's, e.g. ``cuda.device``); it becomes
    requestable and the scheduler counts it against agents' capacity."""
    slot = SlotType(name, unit, capacity=capacity, accelerator=accelerator,
                    description=description)
    SLOT_TYPES[name] = slot
    if accelerator:
        ACCELERATOR_SLOTS[name] = description
    return slot


def slot_type(name: str) -> SlotType:
    """The registered type of ``name``. A name nobody registered (an agent reporting a
    device whose plugin this manager lacks) is taken as a capacity-bearing accelerator
    count: counted, never ignored, so it can only make a session wait, never overcommit."""
    found = SLOT_TYPES.get(name)
    if found is not None:
        return found
    return SlotType(name, "count", capacity=True, accelerator=True,
                    description=ACCELERATOR_SLOTS.get(name, ""))


def is_capacity(name: str) -> bool:
    return slot_type(name).capacity


def is_accelerator(name: str) -> bool:
    return slot_type(name).accelerator


def has_accelerator(amounts: Mapping[str, Decimal]) -> bool:
    """True when ``amounts`` (a request or a capacity) has some accelerator slot above 0."""
    return any(v > 0 and is_accelerator(k) for k, v in amounts.items())


def format_amount(name: str, amount: Decimal) -> str:
    """``amount`` of slot ``name`` as users write it: ``2g`` for bytes, ``0.5`` for counts."""
    if slot_type(name).unit == "bytes" and amount == amount.to_integral_value():
        return format_size(int(amount))
    return format(amount.normalize(), "f")


def requestable_slots() -> tuple[str, ...]:
    """Every slot name a create request may carry."""
    return (*BUILTIN_SLOTS, *sorted(ACCELERATOR_SLOTS))


def slots(**amounts: float | int | str | Decimal) -> Slots:
    return {k: Decimal(str(v)) for k, v in amounts.items()}


def from_json(data: Mapping[str, str | int | float]) -> Slots:
    return {k: Decimal(str(v)) for k, v in data.items()}


def to_json(value: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: format(v.normalize(), "f") for k, v in value.items()}


def add(*values: Mapping[str, Decimal]) -> Slots:
    total: Slots = {}
    for value in values:
        for key, amount in value.items():
            total[key] = total.get(key, Decimal(0)) + amount
    return total


def total(values: Iterable[Mapping[str, Decimal]]) -> Slots:
    return add(*values)


def sub(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> Slots:
    return {k: a.get(k, Decimal(0)) - b.get(k, Decimal(0)) for k in set(a) | set(b)}


def free(capacity: Mapping[str, Decimal], occupied: Mapping[str, Decimal]) -> Slots:
    """What is left of ``capacity``, never below zero: sessions may occupy more than an agent
    now offers (its capacity shrank while they ran), which leaves nothing free, not a debt."""
    return {k: max(v, Decimal(0)) for k, v in sub(capacity, occupied).items()}


def shortfall(request: Mapping[str, Decimal], free: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Capacity-bearing slots for which ``request`` exceeds ``free`` and by how much."""
    missing: dict[str, Decimal] = {}
    for key, amount in request.items():
        if not is_capacity(key):
            continue
        have = free.get(key, Decimal(0))
        if amount > have:
            missing[key] = amount - have
    return missing


def fits(request: Mapping[str, Decimal], free: Mapping[str, Decimal]) -> bool:
    return not shortfall(request, free)


def scale(value: Mapping[str, Decimal], factor: int) -> Slots:
    """``value`` times ``factor`` (a cluster session's kernels on one agent)."""
    return {k: v * factor for k, v in value.items()}


def describe(amounts: Mapping[str, Decimal]) -> str:
    """``cpu 2, mem 512m``: slots by name, each in its unit."""
    return ", ".join(f"{k} {format_amount(k, v)}" for k, v in sorted(amounts.items()))
