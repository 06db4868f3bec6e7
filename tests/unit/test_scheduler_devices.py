"""The scheduler gives accelerator devices (issue 10): specific devices per kernel from the
pure allocator, never two kernels one device whole, never whole and shares on one device,
never more than 1 of a device's shares; a session that fits by its slot counts but not on any
device waits and says which slot is short."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain import devices as dv
from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, GroupState, PendingSession, Snapshot, schedule

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GiB = 2**30
P = "mock-gpu"
DEV, SH = dv.device_slot(P), dv.shares_slot(P)


@pytest.fixture(autouse=True, scope="module")
def _mock_gpu_slots() -> Iterator[None]:
    """The plugin's slots, registered as an agent's report would, for this module only."""
    for name in (DEV, SH):
        sl.register_slot(name, "mock GPU")
    yield
    for name in (DEV, SH):
        sl.SLOT_TYPES.pop(name, None)
        sl.ACCELERATOR_SLOTS.pop(name, None)


def gpu_agent(id: str, n: int, held: dict[str, dv.Allocation] | None = None,
              cpu: int = 64) -> AgentState:
    devices = tuple(dv.Device(str(i), 16 * GiB) for i in range(n))
    occupied = sl.add(*(a.slots() for a in (held or {}).values()))
    return AgentState(id, "default", {"cpu": Decimal(cpu), "mem": Decimal(256 * GiB),
                                      **dv.capacity(devices, P)},
                      occupied, devices={P: devices}, held={P: held or {}})


def ask(id: str, minute: int = 0, size: int = 1, **amounts: str) -> PendingSession:
    slots = {"cpu": Decimal(1), "mem": Decimal(GiB),
             **{k.replace("_", "."): Decimal(v) for k, v in amounts.items()}}
    return PendingSession(id, NOW - timedelta(hours=1) + timedelta(minutes=minute), slots,
                          cluster_size=size)


def run(agents: list[AgentState], sessions: list[PendingSession],
        group: GroupState | None = None):  # type: ignore[no-untyped-def]
    groups = {"default": group} if group else {}
    return schedule(Snapshot(tuple(agents), groups), sessions, NOW)


def shares(n: str) -> dict[str, str]:
    return {"mock-gpu_shares": n}


def test_whole_devices_go_to_distinct_free_devices_per_kernel() -> None:
    plan = run([gpu_agent("a1", 4)], [ask("s", size=2, **{"mock-gpu_device": "2"})])
    assert plan.assignments == {"s": "a1"}
    kernels = plan.devices["s"]
    assert len(kernels) == 2
    taken = [d for [a] in kernels for d in a.devices]
    assert sorted(taken) == ["0", "1", "2", "3"] and all(a.mode == "whole" for [a] in kernels)


def test_shares_fill_one_device_before_the_next_and_spread_uses_the_least_used() -> None:
    sessions = [ask("s1", 0, **shares("0.5")), ask("s2", 1, **shares("0.3"))]
    fill = run([gpu_agent("a1", 2)], sessions)
    assert [k[0][0].devices for k in (fill.devices["s1"], fill.devices["s2"])] == [
        {"0": Decimal("0.5")}, {"0": Decimal("0.3")}]
    spread = run([gpu_agent("a1", 2)], sessions, GroupState("default", device_policy="spread"))
    assert [next(iter(spread.devices[s][0][0].devices)) for s in ("s1", "s2")] == ["0", "1"]


def test_a_device_holding_shares_is_not_given_whole_and_the_session_says_why() -> None:
    held = {"k1": dv.Allocation(P, "shares", {"0": Decimal("0.2")})}
    # By counts one device is free (capacity 2, one device's worth held as shares only 0.2).
    plan = run([gpu_agent("a1", 1, held)], [ask("s", **{"mock-gpu_device": "1"})])
    assert plan.assignments == {}
    [(name, message)] = [(c.name, c.message) for c in plan.waiting["s"] if not c.passed]
    assert name == "agent-resources"
    assert DEV in message and "holding shares" in message


def test_free_shares_split_over_devices_do_not_fit_one_request() -> None:
    held = {"k1": dv.Allocation(P, "shares", {"0": Decimal("0.6")}),
            "k2": dv.Allocation(P, "shares", {"1": Decimal("0.6")})}
    plan = run([gpu_agent("a1", 2, held)], [ask("s", **shares("0.5"))])
    assert plan.assignments == {}
    message = [c.message for c in plan.waiting["s"] if not c.passed][0]
    assert "no device has 0.5 free" in message and "0.4" in message


def test_the_next_agent_is_tried_when_the_devices_of_the_best_do_not_fit() -> None:
    held = {"k1": dv.Allocation(P, "shares", {"0": Decimal("0.9")})}
    # a1 has more CPU free (ranked first when dispersed) but its only device is nearly full.
    plan = run([gpu_agent("a1", 1, held, cpu=64), gpu_agent("a2", 1, cpu=8)],
               [ask("s", **shares("0.5"))])
    assert plan.assignments == {"s": "a2"}
    assert plan.devices["s"][0][0].devices == {"0": Decimal("0.5")}


def test_sessions_without_accelerators_get_no_devices() -> None:
    plan = run([gpu_agent("a1", 1)], [ask("s")])
    assert plan.assignments == {"s": "a1"} and "s" not in plan.devices


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["d", "s"]), st.integers(1, 10), st.integers(1, 2)),
                max_size=12),
       st.integers(1, 3), st.sampled_from(["fill", "spread"]))
def test_a_plan_never_over_allocates_a_device(asks: list[tuple[str, int, int]], n: int,
                                              policy: str) -> None:
    sessions = []
    for i, (kind, amount, size) in enumerate(asks):
        if kind == "d":
            sessions.append(ask(f"s{i}", i, size, **{"mock-gpu_device": str(1 + amount % 2)}))
        else:
            sessions.append(ask(f"s{i}", i, **shares(str(Decimal(amount) / 10))))
    plan = run([gpu_agent("a1", n)], sessions,
               GroupState("default", device_policy=policy))  # type: ignore[arg-type]
    given_out = {f"{s}#{k}": a for s, kernels in plan.devices.items()
                 for k, allocations in enumerate(kernels) for a in allocations}
    devices = [dv.Device(str(i), 16 * GiB) for i in range(n)]
    _, problems = dv.restore(devices, given_out, P)
    assert problems == []
    # Every placed session that asked for devices got them for each of its kernels.
    for s in plan.assignments:
        p = next(x for x in sessions if x.id == s)
        assert len(plan.devices[s]) == p.cluster_size
