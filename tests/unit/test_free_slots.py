"""Free resources are never negative: sessions may occupy more than an agent now offers (its
capacity shrank while they ran)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, PendingSession, Snapshot, schedule

amounts = st.decimals(min_value=0, max_value=10**12, places=3)


def test_over_occupied_agent_has_nothing_free() -> None:
    free = sl.free(sl.slots(cpu=1, mem=2**30), sl.slots(cpu=2, mem=2**29))
    assert free == {"cpu": Decimal(0), "mem": Decimal(2**29)}


@given(st.dictionaries(st.sampled_from(["cpu", "mem", "cuda.device"]), amounts),
       st.dictionaries(st.sampled_from(["cpu", "mem", "cuda.device"]), amounts))
def test_free_is_never_negative(capacity: sl.Slots, occupied: sl.Slots) -> None:
    assert all(v >= 0 for v in sl.free(capacity, occupied).values())


def test_scheduler_reports_a_shrunk_agent_as_short_by_the_request_only() -> None:
    agent = AgentState("a1", "default", sl.slots(cpu=1, mem=2**30), sl.slots(cpu=3, mem=0))
    assert agent.free["cpu"] == 0
    pending = PendingSession("s1", datetime(2026, 1, 1, tzinfo=UTC), sl.slots(cpu=1, mem=0))
    plan = schedule(Snapshot((agent,)), [pending], datetime(2026, 1, 1, tzinfo=UTC))
    [check] = [c for c in plan.waiting["s1"] if not c.passed]
    assert check.message == "no agent has enough free resources (a1: short of cpu 1)"
