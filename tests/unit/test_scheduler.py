"""The pure scheduler: FIFO, a session waiting for resources holding back later ones, start
times, designated agents, resource groups, capacity, determinism, and why a session waits.
Priorities, orders, quotas, images, agent selection and pending timeouts:
test_scheduler_policy.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain import slots as sl
from berth.domain.scheduler import AgentState, PendingSession, Plan, Snapshot, schedule

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
GiB = 2**30


def agent(
    id: str,
    cpu: float = 4,
    mem: int = 8 * GiB,
    used_cpu: float = 0,
    used_mem: int = 0,
    group: str = "default",
    schedulable: bool = True,
    **extra: float,
) -> AgentState:
    return AgentState(
        id=id,
        resource_group=group,
        capacity=sl.slots(cpu=cpu, mem=mem, **extra),
        occupied=sl.slots(cpu=used_cpu, mem=used_mem),
        schedulable=schedulable,
    )


def pending(
    id: str,
    cpu: float = 1,
    mem: int = GiB,
    minute: int = 0,
    group: str = "default",
    starts_at: datetime | None = None,
    agent_id: str | None = None,
    **extra: float,
) -> PendingSession:
    return PendingSession(
        id=id,
        created_at=NOW - timedelta(hours=1) + timedelta(minutes=minute),
        requested=sl.slots(cpu=cpu, mem=mem, shmem=64 * 2**20, **extra),
        resource_group=group,
        starts_at=starts_at,
        agent_id=agent_id,
    )


def plan_of(agents: list[AgentState], sessions: list[PendingSession]) -> Plan:
    return schedule(Snapshot(tuple(agents)), sessions, NOW)


def failed_checks(plan: Plan, session_id: str) -> list[tuple[str, str]]:
    return [(c.name, c.message) for c in plan.waiting[session_id] if not c.passed]


# --- policy --------------------------------------------------------------------------------


def test_nothing_pending_gives_an_empty_plan() -> None:
    plan = plan_of([agent("a1")], [])
    assert plan.assignments == {} and plan.waiting == {}


def test_fifo_the_earlier_session_gets_the_last_place() -> None:
    agents = [agent("a1", cpu=2)]
    late, early = pending("late", cpu=2, minute=5), pending("early", cpu=2, minute=1)
    plan = plan_of(agents, [late, early])
    assert plan.assignments == {"early": "a1"}
    assert "late" in plan.waiting


def test_equal_creation_times_are_ordered_by_id() -> None:
    plan = plan_of([agent("a1", cpu=1)], [pending("s2", minute=0), pending("s1", minute=0)])
    assert plan.assignments == {"s1": "a1"}


def test_a_big_session_waiting_for_resources_holds_back_later_small_ones() -> None:
    """No backfill past a session waiting for resources: it would be starved otherwise."""
    agents = [agent("a1", cpu=4, used_cpu=2)]
    big, small = pending("big", cpu=4, minute=1), pending("small", cpu=1, minute=2)
    plan = plan_of(agents, [big, small])
    assert plan.assignments == {}
    assert failed_checks(plan, "big")[-1][0] == "agent-resources"
    assert failed_checks(plan, "small") == [
        ("queue", "held back behind session big (priority 10), which waits for resources first")
    ]
    assert plan.positions == {"big": 1, "small": 2}


def test_assignments_in_one_pass_use_up_capacity() -> None:
    sessions = [pending(f"s{i}", cpu=1, minute=i) for i in range(5)]
    plan = plan_of([agent("a1", cpu=3)], sessions)
    assert plan.assignments == {"s0": "a1", "s1": "a1", "s2": "a1"}
    assert set(plan.waiting) == {"s3", "s4"}


def test_the_agent_with_most_free_memory_is_chosen() -> None:
    agents = [agent("a1", used_mem=6 * GiB), agent("a2", used_mem=2 * GiB), agent("a3")]
    plan = plan_of(agents, [pending("s1", minute=1), pending("s2", minute=2)])
    assert plan.assignments["s1"] == "a3"
    assert plan.assignments["s2"] == "a3"  # 7 GiB free on a3 is still the most


def test_shmem_is_not_counted_against_capacity() -> None:
    s = PendingSession("s", NOW, sl.slots(cpu=1, mem=GiB, shmem=64 * GiB))
    assert plan_of([agent("a1", mem=GiB)], [s]).assignments == {"s": "a1"}


def test_accelerator_slots_count() -> None:
    agents = [agent("a1", **{"cuda.device": 1}), agent("a2")]
    plan = plan_of(
        agents, [pending("g1", **{"cuda.device": 1}), pending("g2", minute=1, **{"cuda.device": 1})]
    )
    assert plan.assignments == {"g1": "a1"}
    assert "cuda.device 1" in failed_checks(plan, "g2")[0][1]


# --- start time ----------------------------------------------------------------------------


def test_a_session_never_starts_before_its_start_time() -> None:
    later = NOW + timedelta(seconds=1)
    plan = plan_of([agent("a1")], [pending("s", starts_at=later)])
    assert plan.assignments == {}
    [check] = plan.waiting["s"]
    assert check.name == "start-time" and not check.passed
    assert later.isoformat(timespec="seconds") in check.message


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1), timedelta(days=-3)])
def test_a_session_starts_at_or_after_its_start_time(delta: timedelta) -> None:
    plan = plan_of([agent("a1")], [pending("s", starts_at=NOW + delta)])
    assert plan.assignments == {"s": "a1"}


def test_a_session_waiting_for_its_time_leaves_room_for_others() -> None:
    agents = [agent("a1", cpu=1)]
    plan = plan_of(
        agents, [pending("t", minute=0, starts_at=NOW + timedelta(hours=1)), pending("s", minute=1)]
    )
    assert plan.assignments == {"s": "a1"}


# --- designated agent and resource group ---------------------------------------------------


def test_designated_agent_is_used_even_when_another_has_more_room() -> None:
    agents = [agent("big", cpu=64, mem=256 * GiB), agent("small")]
    plan = plan_of(agents, [pending("s", agent_id="small")])
    assert plan.assignments == {"s": "small"}


def test_designated_agent_that_is_full_makes_the_session_wait() -> None:
    agents = [agent("free"), agent("full", used_cpu=4)]
    plan = plan_of(agents, [pending("s", agent_id="full")])
    assert plan.assignments == {}
    name, message = failed_checks(plan, "s")[0]
    assert name == "agent-resources" and "full: short of cpu 1" in message


def test_designated_agent_that_is_missing() -> None:
    plan = plan_of([agent("a1")], [pending("s", agent_id="ghost")])
    assert failed_checks(plan, "s") == [
        ("agent-available", "no alive agent ghost taking sessions in the resource group 'default'")
    ]


def test_designated_agent_in_another_group_is_not_used() -> None:
    plan = plan_of([agent("a1", group="gpu")], [pending("s", agent_id="a1")])
    assert failed_checks(plan, "s")[0][0] == "agent-available"


def test_resource_groups_are_kept_apart() -> None:
    agents = [agent("cpu1", group="default"), agent("gpu1", group="gpu")]
    plan = plan_of(agents, [pending("d"), pending("g", group="gpu"), pending("x", group="none")])
    assert plan.assignments == {"d": "cpu1", "g": "gpu1"}
    assert failed_checks(plan, "x") == [
        ("agent-available", "no alive agent in the resource group 'none'")
    ]


def test_unschedulable_agents_get_nothing() -> None:
    plan = plan_of([agent("a1", schedulable=False)], [pending("s")])
    assert plan.assignments == {}
    assert failed_checks(plan, "s")[0][0] == "agent-available"


# --- why a session waits -------------------------------------------------------------------


def test_waiting_message_names_short_memory_in_user_units() -> None:
    plan = plan_of([agent("a1", mem=8 * GiB, used_mem=7 * GiB)], [pending("s", mem=3 * GiB)])
    [alive, queue, failed] = plan.waiting["s"]
    assert alive.name == "agent-available" and alive.passed
    assert "1 agent(s) alive" in alive.message
    assert queue.name == "queue" and queue.passed
    assert failed.name == "agent-resources" and not failed.passed
    assert "a1: short of mem 2g" in failed.message
    assert "cpu" not in failed.message


def test_waiting_message_names_short_cpu() -> None:
    plan = plan_of([agent("a1", cpu=2, used_cpu=1.5)], [pending("s", cpu=1)])
    assert "short of cpu 0.5" in failed_checks(plan, "s")[0][1]
    assert "mem" not in failed_checks(plan, "s")[0][1]


def test_waiting_message_names_every_short_resource() -> None:
    plan = plan_of([agent("a1", cpu=1, mem=GiB)], [pending("s", cpu=3, mem=GiB + 512 * 2**20)])
    assert "short of cpu 2, mem 512m" in failed_checks(plan, "s")[0][1]


def test_waiting_message_names_the_closest_agent() -> None:
    agents = [agent("far", cpu=1), agent("near", cpu=3)]
    plan = plan_of(agents, [pending("s", cpu=4)])
    assert "(near: short of cpu 1)" in failed_checks(plan, "s")[0][1]


def test_a_placed_session_has_no_waiting_entry() -> None:
    plan = plan_of([agent("a1")], [pending("s")])
    assert plan.assignments == {"s": "a1"} and "s" not in plan.waiting


# --- properties ----------------------------------------------------------------------------

GROUPS = ["default", "gpu"]


@st.composite
def agents_st(draw: st.DrawFn) -> list[AgentState]:
    count = draw(st.integers(0, 5))
    result = []
    for i in range(count):
        cpu = draw(st.integers(0, 16))
        mem = draw(st.integers(0, 32))
        result.append(
            AgentState(
                id=f"a{i}",
                resource_group=draw(st.sampled_from(GROUPS)),
                capacity=sl.slots(cpu=cpu, mem=mem * GiB),
                occupied=sl.slots(
                    cpu=Decimal(draw(st.integers(0, cpu * 2))) / 2,
                    mem=draw(st.integers(0, mem)) * GiB,
                ),
                schedulable=draw(st.booleans()),
            )
        )
    return result


@st.composite
def sessions_st(draw: st.DrawFn) -> list[PendingSession]:
    count = draw(st.integers(0, 12))
    result = []
    for i in range(count):
        result.append(
            PendingSession(
                id=f"s{i:02d}",
                created_at=NOW - timedelta(minutes=draw(st.integers(0, 5))),
                requested=sl.slots(
                    cpu=Decimal(draw(st.integers(1, 16))) / 4,
                    mem=draw(st.integers(1, 16)) * GiB // 2,
                    shmem=64 * 2**20,
                ),
                resource_group=draw(st.sampled_from(GROUPS)),
                starts_at=draw(
                    st.none() | st.integers(-60, 60).map(lambda s: NOW + timedelta(seconds=s))
                ),
                agent_id=draw(st.none() | st.sampled_from(["a0", "a1", "a9"])),
            )
        )
    return result


def _plan_key(plan: Plan) -> tuple[object, object]:
    return plan.assignments, {k: sorted(map(repr, v)) for k, v in plan.waiting.items()}


@settings(max_examples=300)
@given(agents_st(), sessions_st())
def test_capacity_is_never_exceeded(
    agents: list[AgentState], sessions: list[PendingSession]
) -> None:
    plan = plan_of(agents, sessions)
    by_id = {a.id: a for a in agents}
    requests = {s.id: s.requested for s in sessions}
    placed: dict[str, list[sl.Slots]] = defaultdict(list)
    for session_id, agent_id in plan.assignments.items():
        placed[agent_id].append(requests[session_id])
    for agent_id, reqs in placed.items():
        a = by_id[agent_id]
        used = sl.add(a.occupied, *reqs)
        for key in used:
            if not sl.is_capacity(key):
                continue
            assert used.get(key, Decimal(0)) <= a.capacity.get(key, Decimal(0)), (agent_id, key)


@settings(max_examples=300)
@given(agents_st(), sessions_st())
def test_every_session_is_placed_or_says_why_it_waits(
    agents: list[AgentState], sessions: list[PendingSession]
) -> None:
    plan = plan_of(agents, sessions)
    by_id = {a.id: a for a in agents}
    ids = {s.id for s in sessions}
    assert set(plan.assignments) | set(plan.waiting) == ids
    assert not set(plan.assignments) & set(plan.waiting)
    for s in sessions:
        if s.id in plan.assignments:
            chosen = by_id[plan.assignments[s.id]]
            assert chosen.schedulable
            assert chosen.resource_group == s.resource_group
            assert s.agent_id in (None, chosen.id)
            assert s.starts_at is None or s.starts_at <= NOW
        else:
            checks = plan.waiting[s.id]
            failed = [c for c in checks if not c.passed]
            assert failed and all(c.message for c in checks)
            assert (failed[0].name == "start-time") == (
                s.starts_at is not None and s.starts_at > NOW
            )


@settings(max_examples=300)
@given(agents_st(), sessions_st())
def test_a_session_waiting_for_resources_fits_on_no_eligible_agent(
    agents: list[AgentState], sessions: list[PendingSession]
) -> None:
    """Work-conserving: after the plan is applied, nothing that waits for resources would fit
    anywhere it is allowed to run (resources only shrink during a pass)."""
    plan = plan_of(agents, sessions)
    requests = {s.id: s.requested for s in sessions}
    free = {a.id: a.free for a in agents}
    for session_id, agent_id in plan.assignments.items():
        free[agent_id] = sl.sub(free[agent_id], requests[session_id])
    for s in sessions:
        if s.id in plan.waiting and plan.waiting[s.id][-1].name == "agent-resources":
            eligible = [
                a
                for a in agents
                if a.schedulable
                and a.resource_group == s.resource_group
                and s.agent_id in (None, a.id)
            ]
            assert eligible
            assert not any(sl.fits(s.requested, free[a.id]) for a in eligible)


@settings(max_examples=200)
@given(agents_st(), sessions_st(), st.randoms(use_true_random=False))
def test_the_order_of_pending_sessions_does_not_matter(
    agents: list[AgentState], sessions: list[PendingSession], rnd: object
) -> None:
    shuffled = list(sessions)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _plan_key(plan_of(agents, shuffled)) == _plan_key(plan_of(agents, sessions))


@settings(max_examples=200)
@given(agents_st(), sessions_st(), st.randoms(use_true_random=False))
def test_the_order_of_agents_does_not_change_assignments(
    agents: list[AgentState], sessions: list[PendingSession], rnd: object
) -> None:
    shuffled = list(agents)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert plan_of(shuffled, sessions).assignments == plan_of(agents, sessions).assignments


def test_the_order_of_agents_does_not_change_why_a_session_waits() -> None:
    """The snapshot's agents come from a query without ORDER BY; the plan must not depend on
    their order, or a waiting session's message flips between passes."""
    agents = [agent("a1", cpu=1), agent("a2", cpu=1)]
    one = plan_of(agents, [pending("s", cpu=2)])
    other = plan_of(agents[::-1], [pending("s", cpu=2)])
    assert one.waiting == other.waiting


@given(agents_st(), sessions_st())
def test_the_same_inputs_give_the_same_plan(
    agents: list[AgentState], sessions: list[PendingSession]
) -> None:
    assert _plan_key(plan_of(agents, sessions)) == _plan_key(plan_of(agents, sessions))


@given(agents_st(), sessions_st())
def test_schedule_does_not_change_its_inputs(
    agents: list[AgentState], sessions: list[PendingSession]
) -> None:
    before = [(a.id, dict(a.occupied)) for a in agents], list(sessions)
    plan_of(agents, sessions)
    assert before == ([(a.id, dict(a.occupied)) for a in agents], list(sessions))
