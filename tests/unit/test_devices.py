"""The pure device allocator: whole devices and shares never mix on a device, shares never
add up above 1, release frees exactly what a kernel took, restore rebuilds the state that
allocations produced, equal input gives equal output; and the messages users read."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain.devices import (
    Allocation,
    Device,
    Shortage,
    allocate,
    available,
    capacity,
    fragmentation,
    release,
    restore,
    used,
    validate_request,
)
from berth.domain.rules import RuleErrors

P = "mock-gpu"
DEV, SH = f"{P}.device", f"{P}.shares"
GiB = 2**30
D = Decimal


def devs(*ids: str) -> list[Device]:
    return [Device(i, 16 * GiB, "mock") for i in ids]


def shares(device: str, amount: str) -> Allocation:
    return Allocation(P, "shares", {device: D(amount)})


def whole(*ids: str) -> Allocation:
    return Allocation(P, "whole", {i: D(1) for i in ids})


def check_rules(devices: list[Device], held: dict[str, Allocation]) -> None:
    """The module's rules, checked from the raw allocations (not through used())."""
    known = {d.id for d in devices}
    for d in known:
        wholes = [k for k, a in held.items() if a.mode == "whole" and d in a.devices]
        parts = [a.devices[d] for a in held.values() if a.mode == "shares" and d in a.devices]
        assert len(wholes) <= 1, f"device {d} given whole twice: {wholes}"
        assert not (wholes and parts), f"device {d} given whole and in shares"
        assert sum(parts, D(0)) <= 1, f"shares on device {d} add up to {sum(parts)}"
    for a in held.values():
        assert set(a.devices) <= known


# -- properties ---------------------------------------------------------------------------

device_sets = st.integers(1, 5).map(lambda n: devs(*(str(i) for i in range(n))))
requests = st.one_of(
    st.integers(1, 3).map(lambda n: {DEV: D(n)}),
    st.integers(1, 10).map(lambda n: {SH: D(n) / 10}),
)
steps = st.lists(st.one_of(
    st.tuples(st.just("allocate"), requests, st.sampled_from(["fill", "spread"])),
    st.tuples(st.just("release"), st.integers(0, 30), st.just("")),
), max_size=30)


def run(devices: list[Device], plan: list[tuple[str, object, str]]
        ) -> tuple[dict[str, Allocation], list[tuple[dict[str, Allocation], str]]]:
    """Apply allocate/release steps; returns the held mapping and every release made
    (the held mapping just before it, the kernel released)."""
    held: dict[str, Allocation] = {}
    releases = []
    for n, (op, arg, policy) in enumerate(plan):
        if op == "allocate":
            assert isinstance(arg, dict)
            got = allocate(devices, held, arg, P, policy=policy)  # type: ignore[arg-type]
            if isinstance(got, Allocation):
                assert got.slots() == arg  # exactly what was asked
                held[f"k{n}"] = got
            else:
                assert isinstance(got, Shortage)
                assert_really_short(devices, held, arg)
        elif held:
            kernel = sorted(held)[int(str(arg)) % len(held)]
            releases.append((dict(held), kernel))
            held = release(held, kernel)
        check_rules(devices, held)
    return held, releases


def assert_really_short(devices: list[Device], held: dict[str, Allocation],
                        request: dict[str, Decimal]) -> None:
    use = used(devices, held, P).values()
    if DEV in request:
        assert sum(1 for u in use if u.free) < request[DEV]
    else:
        assert all(u.free_shares < request[SH] for u in use)


@settings(deadline=None)
@given(device_sets, steps)
def test_never_over_allocates_and_never_mixes_whole_and_shares(devices, plan) -> None:
    run(devices, plan)


@settings(deadline=None)
@given(device_sets, steps)
def test_release_frees_exactly_what_the_kernel_took(devices, plan) -> None:
    _, releases = run(devices, plan)
    for before, kernel in releases:
        gone = before[kernel]
        old, new = used(devices, before, P), used(devices, release(before, kernel), P)
        for device_id, u in new.items():
            took = gone.devices.get(device_id, D(0))
            if gone.mode == "whole" and took:
                assert old[device_id].whole and not u.whole and u.shares == 0
            else:
                assert u.whole == old[device_id].whole
                assert u.shares == old[device_id].shares - took
            assert kernel not in u.kernels


@settings(deadline=None)
@given(device_sets, steps, st.randoms(use_true_random=False))
def test_restore_gives_back_the_state_that_allocations_produced(devices, plan, rnd) -> None:
    held, _ = run(devices, plan)
    labels = {k: Allocation.from_json(json.dumps(a.to_json())) for k, a in held.items()}
    shuffled = list(labels.items())
    rnd.shuffle(shuffled)
    restored, problems = restore(devices, dict(shuffled), P)
    assert problems == []
    assert restored == held
    assert used(devices, restored, P) == used(devices, held, P)


@settings(deadline=None)
@given(device_sets, steps, requests, st.sampled_from(["fill", "spread"]),
       st.randoms(use_true_random=False))
def test_equal_input_gives_equal_output(devices, plan, request, policy, rnd) -> None:
    held, _ = run(devices, plan)
    items = list(held.items())
    rnd.shuffle(items)
    other_devices = list(devices)
    rnd.shuffle(other_devices)
    first = allocate(devices, held, request, P, policy=policy)
    assert first == allocate(other_devices, dict(items), request, P, policy=policy)
    assert fragmentation(devices, held, P) == fragmentation(other_devices, dict(items), P)


@settings(deadline=None)
@given(device_sets, steps)
def test_restore_drops_an_allocation_that_would_over_allocate(devices, plan) -> None:
    held, _ = run(devices, plan)
    busy = {d for a in held.values() for d in a.devices}
    if not busy:
        return
    device_id = sorted(busy)[0]
    intruder = whole(device_id)  # anything whole on a device already held over-allocates
    restored, problems = restore(devices, {**held, "zz-intruder": intruder}, P)
    assert restored == held
    assert len(problems) == 1 and problems[0].startswith("kernel zz-intruder: ")


@given(st.sampled_from(["whole", "shares"]), st.integers(1, 10))
def test_allocation_json_round_trip(mode, n) -> None:
    a = whole(*(str(i) for i in range(n))) if mode == "whole" else shares("3", str(D(n) / 10))
    text = json.dumps(a.to_json())
    assert Allocation.from_json(text) == a
    assert Allocation.from_json(json.loads(text)) == a
    assert all(isinstance(v, str) for v in a.to_json()["devices"].values())


# -- examples: choices ---------------------------------------------------------------------

def test_fill_packs_onto_the_most_used_device_that_fits_and_spread_onto_the_least() -> None:
    devices = devs("0", "1", "2")
    held = {"a": shares("1", "0.5"), "b": shares("2", "0.3")}
    assert allocate(devices, held, {SH: D("0.5")}, P, policy="fill") == shares("1", "0.5")
    assert allocate(devices, held, {SH: D("0.6")}, P, policy="fill") == shares("2", "0.6")
    assert allocate(devices, held, {SH: D("0.2")}, P, policy="spread") == shares("0", "0.2")


def test_ties_go_to_the_lowest_id_in_number_order() -> None:
    devices = devs("10", "2", "9")
    assert allocate(devices, {}, {SH: D("0.5")}, P) == shares("2", "0.5")
    assert allocate(devices, {}, {DEV: D(2)}, P) == whole("2", "9")


def test_whole_devices_skip_devices_with_shares_and_shares_skip_whole_devices() -> None:
    devices = devs("0", "1")
    assert allocate(devices, {"a": shares("0", "0.1")}, {DEV: D(1)}, P) == whole("1")
    assert allocate(devices, {"a": whole("0")}, {SH: D(1)}, P) == shares("1", "1")


def test_other_plugins_allocations_do_not_count() -> None:
    devices = devs("0")
    held = {"a": Allocation("cuda", "whole", {"0": D(1)})}
    assert allocate(devices, held, {DEV: D(1)}, P) == whole("0")


def test_a_request_for_nothing_of_this_plugin_gets_none() -> None:
    assert allocate(devs("0"), {}, {"cpu": D(2), "cuda.device": D(1)}, P) is None


def test_available_capacity_and_fragmentation() -> None:
    devices = [Device("0", GiB, "H100"), Device("1", GiB), Device("2", GiB)]
    held = {"k1": shares("0", "0.6"), "k2": shares("0", "0.1"), "k3": whole("1")}
    assert capacity(devices, P) == {DEV: 3, SH: 3}
    assert available(devices, held, P) == {DEV: 1, SH: 1}
    frag = fragmentation(devices, held, P)
    assert frag.describe() == (
        "device 0 (H100): shared, 0.7 used, 0.3 free (k1, k2)\n"
        "device 1: whole (k3)\n"
        "device 2: free\n"
        "largest shares request that fits now: 1; whole devices free now: 1")
    assert frag.to_json()["devices"][0] == {
        "id": "0", "model": "H100", "state": "shared", "shares_used": "0.7",
        "shares_free": "0.3", "kernels": ["k1", "k2"]}


# -- examples: messages --------------------------------------------------------------------

def test_shortage_of_shares_names_the_most_free_device() -> None:
    held = {"a": shares("0", "0.7"), "b": shares("1", "0.6")}
    got = allocate(devs("0", "1"), held, {SH: D("0.6")}, P)
    assert got == Shortage(SH, "mock-gpu.shares: no device has 0.6 free "
                               "(most free: 0.4 on device 1)")


def test_shortage_messages_for_whole_devices_and_when_all_are_taken_whole() -> None:
    devices = devs("0", "1", "2")
    held = {"a": whole("0"), "b": shares("1", "0.5")}
    assert str(allocate(devices, held, {DEV: D(2)}, P)) == (
        "mock-gpu.device: 2 whole devices wanted, 1 free (1 taken whole, 1 holding shares)")
    assert str(allocate(devices, {}, {DEV: D(4)}, P)) == (
        "mock-gpu.device: 4 whole devices wanted, this agent has 3")
    assert str(allocate(devs("0"), {"a": whole("0")}, {SH: D("0.1")}, P)) == (
        "mock-gpu.shares: no device has 0.1 free (all 1 are taken whole)")
    assert str(allocate([], {}, {SH: D("0.1")}, P)) == (
        "mock-gpu.shares: this agent has no mock-gpu devices")


@pytest.mark.parametrize(("request_", "cluster", "expected"), [
    ({SH: D("1.5")}, 1, "mock-gpu.shares: 1.5 is more than one device: shares are a fraction "
                        "of one device (at most 1); ask for whole devices with mock-gpu.device "
                        "instead"),
    ({SH: D("0.25")}, 1, "mock-gpu.shares: 0.25 is not a multiple of the step 0.1"),
    ({DEV: D("1.5")}, 1, "mock-gpu.device: must be a whole number of devices (not 1.5); for "
                         "a fraction of one device ask for mock-gpu.shares"),
    ({DEV: D(-1)}, 1, "mock-gpu.device: must not be negative"),
    ({DEV: D(1), SH: D("0.5")}, 1, "mock-gpu.shares: ask for either mock-gpu.device (whole "
                                   "devices) or mock-gpu.shares (a fraction of one device), "
                                   "not both"),
    ({SH: D("0.5")}, 2, "mock-gpu.shares: cluster sessions (2 or more kernels) may use whole "
                        "devices only: ask for a whole number of mock-gpu.device"),
])
def test_request_rules_name_the_slot_and_the_rule(request_, cluster, expected) -> None:
    assert [str(e) for e in validate_request(request_, P, cluster_size=cluster)] == [expected]


def test_valid_requests_pass_and_the_quantum_is_the_groups() -> None:
    assert validate_request({SH: D("0.5"), "cpu": D("0.33")}, P) == []
    assert validate_request({DEV: D(2)}, P, cluster_size=4) == []
    assert validate_request({SH: D("0.25")}, P, quantum=D("0.05")) == []
    with pytest.raises(ValueError, match="quantum"):
        validate_request({}, P, quantum=D(0))


def test_allocate_refuses_a_request_that_breaks_a_rule() -> None:
    with pytest.raises(RuleErrors, match="not both"):
        allocate(devs("0", "1"), {}, {DEV: D(1), SH: D("0.5")}, P)
    with pytest.raises(RuleErrors, match="more than one device"):
        allocate(devs("0", "1"), {}, {SH: D(2)}, P)


def test_restore_reports_unknown_devices_and_conflicts_and_keeps_the_first_id() -> None:
    held, problems = restore(devs("0", "1"), {
        "k3": shares("0", "0.5"),
        "k1": shares("0", "0.6"),
        "k2": whole("1"),
        "k4": whole("1"),
        "k5": shares("7", "0.1"),
        "k6": Allocation("cuda", "whole", {"0": D(1)}),
    }, P)
    assert held == {"k1": shares("0", "0.6"), "k2": whole("1")}
    assert problems == [
        "kernel k3: mock-gpu shares on device 0 would add up to 1.1",
        "kernel k4: mock-gpu device 1 is already taken whole by k2",
        "kernel k5: mock-gpu device 7 is not on this agent",
    ]


@pytest.mark.parametrize(("data", "message"), [
    ("{", "not JSON"),
    ('{"slot_prefix": "x", "mode": "half", "devices": {"0": "1"}}', "mode must be"),
    ('{"slot_prefix": "x", "mode": "whole", "devices": {"0": "0.5"}}', "maps every device to 1"),
    ('{"slot_prefix": "x", "mode": "shares", "devices": {"0": "0.5", "1": "0.5"}}',
     "exactly one device"),
    ('{"slot_prefix": "x", "mode": "shares", "devices": {"0": "1.5"}}', "at most 1"),
    ('{"slot_prefix": "x", "mode": "shares", "devices": {"0": "abc"}}', "devices.0 must be"),
    ('{"slot_prefix": "x", "mode": "whole", "devices": {}}', "at least one device"),
    ('[]', "JSON object"),
])
def test_allocation_from_json_refuses_malformed_labels(data, message) -> None:
    with pytest.raises(ValueError, match=message):
        Allocation.from_json(data)


def test_property_helpers_can_fail() -> None:
    """check_rules is not vacuous: it catches an over-allocation."""
    with pytest.raises(AssertionError, match="add up to"):
        check_rules(devs("0"), {"a": shares("0", "0.6"), "b": shares("0", "0.6")})
    with pytest.raises(AssertionError, match="whole and in shares"):
        check_rules(devs("0"), {"a": whole("0"), "b": shares("0", "0.1")})
