"""The scheduler's policy: priorities, the group's order (fifo, lifo, drf), a session waiting
for resources holding back its group, quotas that block no one, images, designated agents,
dispersed and concentrated selection, accelerator avoidance, cluster sizes, pending timeouts
and queue positions. Examples first, then properties over random snapshots (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain import slots as sl
from berth.domain.scheduler import (
    AgentState,
    GroupState,
    PendingSession,
    Plan,
    Quota,
    Snapshot,
    schedule,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
GiB = 2**30
GPU = "test.gpu"
IMG, OTHER = "img/a:1", "img/b:1"


@pytest.fixture(autouse=True, scope="module")
def gpu_slot() -> Any:
    """An accelerator plugin's slot, registered as a plugin would."""
    sl.register_slot(GPU, "one test GPU")
    yield
    sl.SLOT_TYPES.pop(GPU, None)
    sl.ACCELERATOR_SLOTS.pop(GPU, None)


def agent(id: str, cpu: float = 4, mem: int = 8 * GiB, used_cpu: float = 0, used_mem: int = 0,
          group: str = "default", images: tuple[str, ...] = (IMG, OTHER), gpu: int = 0,
          schedulable: bool = True) -> AgentState:
    capacity = sl.slots(cpu=cpu, mem=mem)
    if gpu:
        capacity[GPU] = Decimal(gpu)
    return AgentState(id, group, capacity, sl.slots(cpu=used_cpu, mem=used_mem), schedulable,
                      frozenset(images))


def session(id: str, cpu: float = 1, mem: int = GiB, minute: int = 0, priority: int = 10,
            owner: str = "u1", project: str = "p1", image: str = IMG, size: int = 1,
            gpu: int = 0, group: str = "default", agent_id: str | None = None,
            starts_at: datetime | None = None) -> PendingSession:
    requested = sl.slots(cpu=cpu, mem=mem)
    if gpu:
        requested[GPU] = Decimal(gpu)
    return PendingSession(
        id=id, created_at=NOW - timedelta(hours=1) + timedelta(minutes=minute),
        requested=requested, resource_group=group, starts_at=starts_at, agent_id=agent_id,
        priority=priority, image=image, owner_id=owner, project_id=project, cluster_size=size,
        name=f"name-{id}",
    )


def plan_of(agents: list[AgentState], sessions: list[PendingSession],
            groups: list[GroupState] = (), quotas: list[Quota] = ()) -> Plan:  # type: ignore[assignment]
    snapshot = Snapshot(tuple(agents), {g.name: g for g in groups},
                        {(q.scope, q.id): q for q in quotas})
    return schedule(snapshot, sessions, NOW)


def failed(plan: Plan, session_id: str) -> list[tuple[str, str]]:
    return [(c.name, c.message) for c in plan.waiting[session_id] if not c.passed]


# --- priority and order ------------------------------------------------------------------------


def test_higher_priority_goes_first_whatever_its_age() -> None:
    plan = plan_of([agent("a1", cpu=1)],
                   [session("old", minute=0), session("urgent", minute=9, priority=50)])
    assert plan.assignments == {"urgent": "a1"}
    assert plan.positions == {"old": 1}


def test_lifo_takes_the_newest_first() -> None:
    plan = plan_of([agent("a1", cpu=1)], [session("old", minute=0), session("new", minute=5)],
                   [GroupState("default", scheduler="lifo")])
    assert plan.assignments == {"new": "a1"}


def test_drf_serves_the_owner_with_the_lowest_dominant_share_first() -> None:
    # u1 already holds half the memory (dominant share 0.5); u2 nothing: u2 goes first.
    group = GroupState("default", scheduler="drf",
                       usage={"u1": sl.slots(cpu=1, mem=4 * GiB)})
    plan = plan_of([agent("a1", cpu=4, mem=8 * GiB, used_cpu=1, used_mem=4 * GiB)],
                   [session("u1-old", minute=0, owner="u1", mem=3 * GiB),
                    session("u2-new", minute=5, owner="u2", mem=3 * GiB)], [group])
    assert plan.assignments == {"u2-new": "a1"}


def test_drf_alternates_owners_as_their_shares_grow() -> None:
    group = GroupState("default", scheduler="drf")
    sessions = [session(f"u1-{i}", minute=i, owner="u1") for i in range(3)]
    sessions += [session(f"u2-{i}", minute=10 + i, owner="u2") for i in range(3)]
    plan = plan_of([agent("a1", cpu=4, mem=64 * GiB)], sessions, [group])
    assert sorted(plan.assignments) == ["u1-0", "u1-1", "u2-0", "u2-1"]


def test_priority_comes_before_drf_shares() -> None:
    group = GroupState("default", scheduler="drf", usage={"u1": sl.slots(cpu=3)})
    plan = plan_of([agent("a1", cpu=4, used_cpu=3)],
                   [session("low", owner="u2"), session("high", owner="u1", priority=20)],
                   [group])
    assert plan.assignments == {"high": "a1"}


# --- holding back --------------------------------------------------------------------------------


def test_a_session_waiting_for_resources_holds_back_lower_priorities() -> None:
    plan = plan_of([agent("a1", cpu=4, used_cpu=2)],
                   [session("big", cpu=4, priority=20), session("small", cpu=1, priority=5)])
    assert plan.assignments == {}
    [(name, message)] = failed(plan, "small")
    assert name == "queue"
    assert message == ("held back behind session 'name-big' (big) (priority 20), which waits "
                       "for resources first")


def test_groups_hold_back_only_themselves() -> None:
    agents = [agent("a1", cpu=2, used_cpu=1), agent("g1", cpu=1, group="other")]
    plan = plan_of(agents, [session("big", cpu=2), session("small"),
                            session("there", group="other", minute=5)])
    assert plan.assignments == {"there": "g1"}


def test_a_request_no_agent_could_ever_hold_blocks_no_one() -> None:
    plan = plan_of([agent("a1", cpu=4)], [session("huge", cpu=64), session("small", minute=1)])
    assert plan.assignments == {"small": "a1"}
    assert failed(plan, "huge") == [("agent-resources", "no agent in the resource group is "
                                     "large enough (a1: short of cpu 60)")]


def test_a_quota_blocked_session_blocks_no_one() -> None:
    quota = Quota("user", "u1", "small", sl.slots(cpu=2), used=sl.slots(cpu=2), sessions=1)
    plan = plan_of([agent("a1")], [session("mine", owner="u1"),
                                   session("theirs", owner="u2", minute=1)], quotas=[quota])
    assert plan.assignments == {"theirs": "a1"}
    assert failed(plan, "mine") == [
        ("user-quota", "user policy 'small' allows cpu 2 in total; 2 in use, this asks 1")]


def test_every_violated_scope_is_reported() -> None:
    quotas = [Quota("user", "u1", "small", sl.slots(mem=GiB)),
              Quota("project", "p1", "team", max_concurrent_sessions=1, sessions=1)]
    plan = plan_of([agent("a1")], [session("s", mem=2 * GiB, size=2)], quotas=quotas)
    assert failed(plan, "s") == [
        ("user-quota", "user policy 'small' allows mem 1g in total; 0 in use, this asks 4g "
                       "(2 kernels)"),
        ("project-quota", "project policy 'team' allows 1 concurrent session(s); 1 in use"),
    ]


def test_a_quota_is_used_up_by_the_sessions_placed_in_the_same_pass() -> None:
    quota = Quota("project", "p1", "team", sl.slots(cpu=3))
    plan = plan_of([agent("a1", cpu=16)], [session(f"s{i}", cpu=1, minute=i) for i in range(5)],
                   quotas=[quota])
    assert sorted(plan.assignments) == ["s0", "s1", "s2"]
    assert failed(plan, "s3")[0][0] == "project-quota"


def test_a_designated_agent_is_strict_and_blocks_no_one() -> None:
    plan = plan_of([agent("busy", used_cpu=4), agent("idle")],
                   [session("pinned", agent_id="busy"), session("other", minute=1)])
    assert plan.assignments == {"other": "idle"}
    assert failed(plan, "pinned") == [
        ("agent-resources", "agent busy has not enough free resources (busy: short of cpu 1)")]


# --- images ----------------------------------------------------------------------------------


def test_never_placed_on_an_agent_without_its_image() -> None:
    plan = plan_of([agent("roomy", cpu=64, images=(OTHER,)), agent("has", images=(IMG,))],
                   [session("s", image=IMG)])
    assert plan.assignments == {"s": "has"}


def test_no_agent_with_the_image_waits_and_blocks_no_one() -> None:
    plan = plan_of([agent("a1", images=(OTHER,))],
                   [session("s", image="img/missing:1"), session("t", image=OTHER, minute=1)])
    assert plan.assignments == {"t": "a1"}
    assert failed(plan, "s") == [
        ("agent-image", "no agent in the resource group 'default' has image img/missing:1")]


# --- agent selection -----------------------------------------------------------------------------


def test_dispersed_spreads_concentrated_packs() -> None:
    agents = [agent("a1", used_cpu=3, used_mem=6 * GiB), agent("a2", used_cpu=1, used_mem=GiB)]
    spread = plan_of(agents, [session("s")], [GroupState("default")])
    pack = plan_of(agents, [session("s")], [GroupState("default", agent_selection="concentrated")])
    assert (spread.assignments, pack.assignments) == ({"s": "a2"}, {"s": "a1"})


def test_concentrated_fills_one_agent_before_the_next() -> None:
    plan = plan_of([agent("a1"), agent("a2")], [session(f"s{i}", minute=i) for i in range(6)],
                   [GroupState("default", agent_selection="concentrated")])
    by_agent: dict[str, int] = defaultdict(int)
    for agent_id in plan.assignments.values():
        by_agent[agent_id] += 1
    assert sorted(by_agent.values()) == [2, 4]


def test_a_session_without_accelerators_avoids_accelerator_agents() -> None:
    agents = [agent("gpu", cpu=32, mem=64 * GiB, gpu=4), agent("plain")]
    plan = plan_of(agents, [session("cpu-only"), session("trainer", gpu=1, minute=1)])
    assert plan.assignments == {"cpu-only": "plain", "trainer": "gpu"}


def test_accelerator_agents_take_others_when_nothing_else_fits() -> None:
    plan = plan_of([agent("gpu", cpu=32, mem=64 * GiB, gpu=4), agent("plain", cpu=1)],
                   [session("s", cpu=8)])
    assert plan.assignments == {"s": "gpu"}


def test_a_cluster_session_needs_all_its_kernels_on_one_agent() -> None:
    plan = plan_of([agent("a1", cpu=2), agent("a2", cpu=3)], [session("c", cpu=1, size=3)])
    assert plan.assignments == {"c": "a2"}
    plan = plan_of([agent("a1", cpu=2), agent("a2", cpu=2)], [session("c", cpu=1, size=3)])
    assert failed(plan, "c") == [("agent-resources", "no agent in the resource group is large "
                                  "enough for 3 kernels (a1: short of cpu 1)")]


def test_an_unregistered_slot_counts_against_capacity() -> None:
    s = PendingSession("s", NOW, {"odd.device": Decimal(1), "cpu": Decimal(1)})
    plan = plan_of([agent("a1")], [s])
    assert failed(plan, "s")[0][0] == "agent-resources"


# --- inactive groups and timeouts ----------------------------------------------------------------


def test_an_inactive_group_schedules_nothing() -> None:
    plan = plan_of([agent("a1")], [session("s")], [GroupState("default", is_active=False)])
    assert failed(plan, "s") == [("resource-group", "resource group 'default' is not active")]


def test_pending_timeout_cancels_sessions_that_waited_too_long() -> None:
    group = GroupState("default", pending_timeout=1800)  # sessions were created 1 h ago
    later = NOW - timedelta(minutes=10)
    plan = plan_of([agent("a1")], [session("old"), session("timed", starts_at=later)], [group])
    assert plan.cancelled == {"old": "waited longer than the pending timeout of resource "
                                     "group 'default' (1800 s)"}
    assert plan.assignments == {"timed": "a1"}


def test_positions_count_the_waiting_sessions_of_each_group_in_order() -> None:
    agents = [agent("a1", cpu=1), agent("b1", cpu=0, group="b")]
    sessions = [session("s0"), session("s1", minute=1), session("s2", minute=2, priority=30),
                session("b0", group="b"), session("b1", group="b", minute=1)]
    plan = plan_of(agents, sessions)
    assert plan.assignments == {"s2": "a1"}
    assert plan.positions == {"s0": 1, "s1": 2, "b0": 1, "b1": 2}


# --- properties ----------------------------------------------------------------------------------

GROUPS = ["default", "other"]
OWNERS = ["u1", "u2", "u3"]
PROJECTS = ["p1", "p2"]


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    agents = []
    for i in range(draw(st.integers(0, 6))):
        cpu = draw(st.integers(0, 8))
        mem = draw(st.integers(0, 16))
        gpu = draw(st.sampled_from([0, 0, 2]))
        capacity = sl.slots(cpu=cpu, mem=mem * GiB)
        occupied = sl.slots(cpu=Decimal(draw(st.integers(0, cpu * 2))) / 2,
                            mem=draw(st.integers(0, mem)) * GiB)
        if gpu:
            capacity[GPU] = Decimal(gpu)
            occupied[GPU] = Decimal(draw(st.integers(0, gpu)))
        images = draw(st.sets(st.sampled_from([IMG, OTHER]), min_size=0, max_size=2))
        agents.append(AgentState(f"a{i}", draw(st.sampled_from(GROUPS)), capacity, occupied,
                                 draw(st.booleans() | st.just(True)), frozenset(images)))
    groups = {}
    for name in GROUPS:
        groups[name] = GroupState(
            name, draw(st.sampled_from(["fifo", "lifo", "drf"])),
            draw(st.sampled_from(["dispersed", "concentrated"])),
            draw(st.sampled_from([0, 0, 1800, 7200])),
            draw(st.booleans() | st.just(True)),
            {o: sl.slots(cpu=draw(st.integers(0, 4))) for o in OWNERS},
        )
    quotas = {}
    for scope, ids in (("user", OWNERS), ("project", PROJECTS)):
        for owner in ids:
            if draw(st.booleans()):
                quotas[(scope, owner)] = Quota(
                    scope, owner, f"{scope}-{owner}",
                    draw(st.sampled_from([{}, sl.slots(cpu=4), sl.slots(cpu=8, mem=8 * GiB)])),
                    draw(st.none() | st.integers(0, 4)),
                    sl.slots(cpu=draw(st.integers(0, 4))), draw(st.integers(0, 2)))
    return Snapshot(tuple(agents), groups, quotas)


@st.composite
def sessions_st(draw: st.DrawFn) -> list[PendingSession]:
    result = []
    for i in range(draw(st.integers(0, 14))):
        requested = sl.slots(cpu=Decimal(draw(st.integers(1, 12))) / 4,
                             mem=draw(st.integers(1, 12)) * GiB // 2, shmem=64 * 2**20)
        if draw(st.integers(0, 4)) == 0:
            requested[GPU] = Decimal(1)
        result.append(PendingSession(
            id=f"s{i:02d}",
            created_at=NOW - timedelta(minutes=draw(st.integers(0, 180))),
            requested=requested,
            resource_group=draw(st.sampled_from(GROUPS)),
            starts_at=draw(st.none() | st.integers(-3600, 60).map(
                lambda s: NOW + timedelta(seconds=s))),
            agent_id=draw(st.none() | st.none() | st.sampled_from(["a0", "a1", "a9"])),
            priority=draw(st.sampled_from([0, 10, 10, 50])),
            image=draw(st.sampled_from([IMG, IMG, OTHER])),
            owner_id=draw(st.sampled_from(OWNERS)),
            project_id=draw(st.sampled_from(PROJECTS)),
            cluster_size=draw(st.integers(1, 3)),
            name=f"n{i}",
        ))
    return result


def _key(plan: Plan) -> Any:
    return (plan.assignments, plan.positions, plan.cancelled,
            {k: [repr(c) for c in v] for k, v in plan.waiting.items()})


def _blocker_of(plan: Plan, s: PendingSession) -> bool:
    """``s`` waits for free resources and so holds back the rest of its group."""
    return any(c.name == "agent-resources" and not c.passed and "enough free" in c.message
               and s.agent_id is None for c in plan.waiting.get(s.id, []))


@settings(max_examples=200, deadline=None)
@given(snapshots(), sessions_st())
def test_no_slot_on_any_agent_and_no_quota_is_ever_exceeded(
    snapshot: Snapshot, sessions: list[PendingSession]
) -> None:
    plan = schedule(snapshot, sessions, NOW)
    by_id = {s.id: s for s in sessions}
    agents = {a.id: a for a in snapshot.agents}
    held = {a.id: dict(a.occupied) for a in snapshot.agents}
    quota_used = {k: (dict(q.used), q.sessions) for k, q in snapshot.quotas.items()}
    for session_id, agent_id in plan.assignments.items():
        s = by_id[session_id]
        held[agent_id] = sl.add(held[agent_id], s.need)
        for key in (("user", s.owner_id), ("project", s.project_id)):
            if key in quota_used:
                used, count = quota_used[key]
                quota_used[key] = (sl.add(used, s.need), count + 1)
    for agent_id, total in held.items():
        a = agents[agent_id]
        newly = sl.sub(total, a.occupied)
        for k, v in newly.items():
            if sl.is_capacity(k) and v > 0:
                assert total[k] <= a.capacity.get(k, Decimal(0)), (agent_id, k)
    for key, (used, count) in quota_used.items():
        q = snapshot.quotas[key]
        placed_here = count > q.sessions
        if not placed_here:
            continue
        for k, limit in q.total_slots.items():  # every session asks some cpu and mem
            assert used.get(k, Decimal(0)) <= limit, (key, k)
        if q.max_concurrent_sessions is not None:
            assert count <= q.max_concurrent_sessions, key


@settings(max_examples=200, deadline=None)
@given(snapshots(), sessions_st())
def test_placements_respect_group_image_designation_and_start_time(
    snapshot: Snapshot, sessions: list[PendingSession]
) -> None:
    plan = schedule(snapshot, sessions, NOW)
    agents = {a.id: a for a in snapshot.agents}
    ids = {s.id for s in sessions}
    assert set(plan.assignments) | set(plan.waiting) | set(plan.cancelled) == ids
    assert len(plan.assignments) + len(plan.waiting) + len(plan.cancelled) == len(ids)
    for s in sessions:
        if s.id not in plan.assignments:
            continue
        a = agents[plan.assignments[s.id]]
        assert a.schedulable and a.resource_group == s.resource_group
        assert a.images is not None and s.image in a.images
        assert s.agent_id in (None, a.id)
        assert s.starts_at is None or s.starts_at <= NOW
        assert snapshot.groups[s.resource_group].is_active


@settings(max_examples=200, deadline=None)
@given(snapshots(), sessions_st())
def test_nothing_lower_starts_ahead_of_a_session_waiting_for_resources(
    snapshot: Snapshot, sessions: list[PendingSession]
) -> None:
    plan = schedule(snapshot, sessions, NOW)
    for b in sessions:
        if not _blocker_of(plan, b):
            continue
        group = snapshot.groups[b.resource_group]
        for s in sessions:
            if s.resource_group != b.resource_group or s.id not in plan.assignments:
                continue
            assert s.priority >= b.priority, (b.id, s.id)
            if s.priority == b.priority and group.scheduler == "fifo":
                assert (s.created_at, s.id) < (b.created_at, b.id), (b.id, s.id)
            if s.priority == b.priority and group.scheduler == "lifo":
                assert (s.created_at, s.id) > (b.created_at, b.id), (b.id, s.id)


@settings(max_examples=150, deadline=None)
@given(snapshots(), sessions_st())
def test_sessions_waiting_for_their_own_reasons_block_no_one(
    snapshot: Snapshot, sessions: list[PendingSession]
) -> None:
    """Without the sessions that wait for their quota, start time, designated agent or image,
    every other session is placed exactly as before."""
    plan = schedule(snapshot, sessions, NOW)
    own = {"user-quota", "project-quota", "start-time", "agent-image"}
    quiet = set()
    for s in sessions:
        names = {c.name for c in plan.waiting.get(s.id, []) if not c.passed}
        if names & own or (s.agent_id is not None and s.id in plan.waiting):
            quiet.add(s.id)
    rest = [s for s in sessions if s.id not in quiet]
    again = schedule(snapshot, rest, NOW)
    assert again.assignments == plan.assignments
    for checks in plan.waiting.values():
        for c in checks:
            if c.name == "queue" and not c.passed:
                assert not any(f"({q})" in c.message for q in quiet)


@settings(max_examples=200, deadline=None)
@given(snapshots(), sessions_st(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_order_of_sessions_and_agents(
    snapshot: Snapshot, sessions: list[PendingSession], rnd: Any
) -> None:
    shuffled_sessions = list(sessions)
    rnd.shuffle(shuffled_sessions)
    agents = list(snapshot.agents)
    rnd.shuffle(agents)
    other = Snapshot(tuple(agents), snapshot.groups, snapshot.quotas)
    assert _key(schedule(other, shuffled_sessions, NOW)) == _key(schedule(snapshot, sessions, NOW))
    assert _key(schedule(snapshot, sessions, NOW)) == _key(schedule(snapshot, sessions, NOW))


@settings(max_examples=150, deadline=None)
@given(snapshots(), sessions_st())
def test_positions_and_pending_timeouts(
    snapshot: Snapshot, sessions: list[PendingSession]
) -> None:
    plan = schedule(snapshot, sessions, NOW)
    per_group: dict[str, list[int]] = defaultdict(list)
    by_id = {s.id: s for s in sessions}
    assert set(plan.positions) == set(plan.waiting)
    for session_id, position in plan.positions.items():
        per_group[by_id[session_id].resource_group].append(position)
    for positions in per_group.values():
        assert sorted(positions) == list(range(1, len(positions) + 1))
    for s in sessions:
        timeout = snapshot.groups[s.resource_group].pending_timeout
        since = max(s.created_at, s.starts_at) if s.starts_at else s.created_at
        expired = timeout > 0 and (NOW - since).total_seconds() > timeout
        assert (s.id in plan.cancelled) == expired


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.sampled_from(["dispersed", "concentrated"]), sessions_st())
def test_one_session_goes_to_the_best_agent_of_its_selection(
    snapshot: Snapshot, selection: str, sessions: list[PendingSession]
) -> None:
    """A lone session: dispersed takes the agent with the most free (mem, then cpu),
    concentrated the least that fits; agents without accelerators first when it needs
    none."""
    for s in sessions[:3]:
        groups = {**snapshot.groups, s.resource_group: GroupState(s.resource_group,
                                                                  agent_selection=selection)}
        plan = schedule(Snapshot(snapshot.agents, groups), [s], NOW)
        if s.id not in plan.assignments:
            continue
        fitting = [a for a in snapshot.agents
                   if a.schedulable and a.resource_group == s.resource_group
                   and a.images is not None and s.image in a.images
                   and s.agent_id in (None, a.id) and sl.fits(s.need, a.free)]
        if not sl.has_accelerator(s.need) and any(not a.accelerated for a in fitting):
            fitting = [a for a in fitting if not a.accelerated]
        rank = {a.id: (a.free.get("mem", Decimal(0)), a.free.get("cpu", Decimal(0)), a.id)
                for a in fitting}
        best = max(rank, key=rank.__getitem__) if selection == "dispersed" else min(
            rank, key=rank.__getitem__)
        assert plan.assignments[s.id] == best
