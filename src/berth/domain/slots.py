"""Resource slots: named quantities (``cpu`` cores, ``mem`` bytes, ``shmem`` bytes, accelerators).

Amounts are Decimals so that fractional CPUs and GPUs add up exactly. ``shmem`` is part of
``mem`` and therefore never counted against an agent's capacity on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

Slots = dict[str, Decimal]

#: Slots that are capacity-bearing; others (shmem) are carried for the container only.
CAPACITY_SLOTS = ("cpu", "mem")
#: Slots every session may request by name.
BUILTIN_SLOTS = ("cpu", "mem", "shmem")
#: Accelerator slots a session may request, by name, with what one unit is. Empty until an
#: accelerator plugin registers its slots (e.g. ``"cuda.device": "one GPU"``); any other slot
#: name in a request is refused by name, never dropped.
ACCELERATOR_SLOTS: dict[str, str] = {}


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
        if key not in CAPACITY_SLOTS and not key.startswith("cuda."):
            continue
        have = free.get(key, Decimal(0))
        if amount > have:
            missing[key] = amount - have
    return missing


def fits(request: Mapping[str, Decimal], free: Mapping[str, Decimal]) -> bool:
    return not shortfall(request, free)
