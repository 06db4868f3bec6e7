"""The pure rules of projects, groups, presets and resource policies
(berth.domain.policy): slot parsing, the project a session gets, group access, and the hard
limits of every scope reported together."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from berth.domain import policy as pol
from berth.domain.launch import (
    AgentFacts,
    ImageFacts,
    LaunchContext,
    LaunchRequest,
    validate_launch,
)
from berth.domain.rules import RuleError
from berth.domain.status import SessionType

GiB = 2**30
KNOWN = ("cpu", "mem", "shmem", "cuda.device")


def test_entity_names() -> None:
    assert pol.entity_name_problem("team-a.v2_x") is None
    assert pol.entity_name_problem("") and pol.entity_name_problem("x" * 65)
    assert pol.entity_name_problem("-lead") and pol.entity_name_problem("a b")


def test_preset_slots_parse_sizes_and_report_every_problem() -> None:
    assert pol.parse_preset_slots({"cpu": "0.5", "mem": "2g", "shmem": 2**20,
                                   "cuda.device": 1}, KNOWN) == {
        "cpu": Decimal("0.5"), "mem": Decimal(2 * GiB), "shmem": Decimal(2**20),
        "cuda.device": Decimal(1)}
    errors = pol.parse_preset_slots({"cpu": 0.001, "mem": "10m", "gpu": 1, "shmem": 1.5},
                                    KNOWN)
    assert isinstance(errors, list)
    assert {e.field for e in errors} == {"slots.cpu", "slots.mem", "slots.gpu", "slots.shmem"}
    missing = pol.parse_preset_slots({}, KNOWN)
    assert isinstance(missing, list) and {e.field for e in missing} == {"slots.cpu",
                                                                       "slots.mem"}
    assert pol.parse_preset_slots({"cpu": 1, "mem": "1g", "shmem": "2g"}, KNOWN) == [
        RuleError("slots.shmem", "must not be larger than memory")]


def test_policy_totals_may_exceed_one_kernel_but_not_name_shmem() -> None:
    assert pol.parse_policy_slots({"cpu": 5000, "mem": "100t"}, KNOWN) == {
        "cpu": Decimal(5000), "mem": Decimal(100 * 2**40)}
    errors = pol.parse_policy_slots({"shmem": "1g", "cpu": "nan", "x": 1}, KNOWN)
    assert isinstance(errors, list)
    assert [e.field for e in errors] == ["total_slots.shmem", "total_slots.cpu",
                                         "total_slots.x"]
    assert isinstance(pol.parse_policy_slots({"cpu": True}, KNOWN), list)


def test_the_project_of_a_session() -> None:
    a, b = pol.ProjectFacts("1", "beta"), pol.ProjectFacts("2", "alpha")
    off = pol.ProjectFacts("3", "aaa", is_active=False)
    default = pol.ProjectFacts("0", "default")
    assert pol.pick_project(None, [a, b, off], default) == b  # first active by name
    assert pol.pick_project(None, [off], default) == default
    assert pol.pick_project("1", [a, b], default) == a  # by id
    assert pol.pick_project("alpha", [a, b], default) == b
    assert pol.pick_project("aaa", [off], default) == RuleError(
        "project", "project 'aaa' is not active")
    assert pol.pick_project("gamma", [a], default, "the owner is") == RuleError(
        "project", "the owner is not a member of a project named 'gamma'")


def test_group_access_rule() -> None:
    assert pol.may_use_group(False, "u", [], [], [])  # nobody linked: open
    assert pol.may_use_group(False, "u", [], ["u"], ["p"])
    assert pol.may_use_group(False, "u", ["p"], ["v"], ["p"])
    assert not pol.may_use_group(False, "u", ["q"], ["v"], ["p"])
    assert pol.may_use_group(True, "u", [], ["v"], [])  # superadmins


def test_priority() -> None:
    assert pol.priority_problem(10, False) is None
    assert pol.priority_problem(11, False) == "only admins may set a priority above 10"
    assert pol.priority_problem(100, True) is None
    assert pol.priority_problem(101, True) == "must be between 0 and 100"


def _scope(scope: str, **limits: object) -> pol.ScopeFacts:
    pending = int(str(limits.pop("pending", 0)))
    return pol.ScopeFacts(scope, pol.PolicyLimits(f"{scope}-p", **limits), pending)  # type: ignore[arg-type]


def test_every_scope_and_limit_reported_with_numbers() -> None:
    per_kernel = {"cpu": Decimal(2), "mem": Decimal(GiB)}
    scopes = [_scope("user", total_slots={"cpu": Decimal(4)}, max_containers_per_session=1),
              _scope("project", total_slots={"cpu": Decimal(3), "mem": Decimal(GiB)},
                     max_pending_sessions=2, pending=1, max_session_lifetime=60)]
    errors = pol.create_limit_errors(per_kernel, 2, 2, 120, scopes)
    assert [(e.field, e.message) for e in errors] == [
        ("resources.cpu", "user policy 'user-p' allows 4 cores in total; this asks 8 cores "
         "(2 sessions × 2 kernels × 2 cores)"),
        ("cluster_size", "user policy 'user-p' allows at most 1 containers per session; this "
         "asks 2"),
        ("resources.cpu", "project policy 'project-p' allows 3 cores in total; this asks "
         "8 cores (2 sessions × 2 kernels × 2 cores)"),
        ("resources.mem", "project policy 'project-p' allows 1g in total; this asks 4g "
         "(2 sessions × 2 kernels × 1g)"),
        ("count", "project policy 'project-p' allows 2 pending sessions; 1 are pending and "
         "this adds 2"),
        ("timeout", "project policy 'project-p' allows sessions of at most 1m; this timeout "
         "is 2m")]
    assert pol.create_limit_errors(per_kernel, 1, 1, None, [pol.ScopeFacts("user", None)]) == []


@given(count=st.integers(1, 20), size=st.integers(1, 64), cpu=st.integers(1, 64),
       limit=st.integers(1, 5000))
def test_a_total_at_the_limit_passes_and_past_it_fails(count: int, size: int, cpu: int,
                                                       limit: int) -> None:
    errors = pol.create_limit_errors({"cpu": Decimal(cpu)}, count, size, None,
                                     [_scope("user", total_slots={"cpu": Decimal(limit)})])
    assert bool(errors) == (count * size * cpu > limit)


def test_check_maths() -> None:
    left = pol.remaining({"cpu": Decimal(4)}, {"cpu": Decimal(5), "mem": Decimal(1)})
    assert left == {"cpu": Decimal(0)}  # never below zero; unlimited slots absent
    want = {"cpu": Decimal(1), "mem": Decimal(GiB)}
    free = [{"cpu": Decimal(2), "mem": Decimal(2 * GiB)}]
    assert pol.allocatable(want, free, [{"cpu": Decimal(1)}, {}])
    assert not pol.allocatable(want, free, [{"cpu": Decimal("0.5")}])
    assert not pol.allocatable(want, [{"cpu": Decimal(2), "mem": Decimal(1)}], [])
    assert pol.largest([{"cpu": Decimal(2)}, {"cpu": Decimal(8), "mem": Decimal(1)}]) == {
        "cpu": Decimal(8), "mem": Decimal(1)}


def test_launch_uses_group_project_priority_and_lifetime() -> None:
    image = ImageFacts("img", {"cpu": "1", "mem": str(GiB)}, frozenset())
    ctx = LaunchContext(owner_id="u", project_id="p", image=image,
                        agents=[AgentFacts("a", {"cpu": Decimal(4), "mem": Decimal(8 * GiB)})],
                        taken_names=frozenset(), name_seed="s",
                        now=datetime(2030, 1, 1, tzinfo=UTC),
                        scopes=[_scope("user", max_session_lifetime=3600)])
    req = LaunchRequest(image="img")
    plan = validate_launch(req, ctx)
    assert not isinstance(plan, list)
    assert (plan.priority, plan.timeout_seconds) == (10, 3600)
    closed = replace(ctx, group=pol.GroupFacts(usable=False),
                     project_problem=RuleError("project", "nope"))
    errors = validate_launch(replace(req, priority=50), closed)
    assert isinstance(errors, list)
    assert {e.field: e.message for e in errors} == {
        "resource_group": "no resource group 'default' you may use",
        "priority": "only admins may set a priority above 10", "project": "nope"}
    batch_only = replace(ctx, group=pol.GroupFacts(allowed_session_types=("batch",)))
    errors = validate_launch(req, batch_only)
    assert isinstance(errors, list) and errors[0].field == "type"
    ok = validate_launch(replace(req, type=SessionType.BATCH, startup_command="true",
                                 timeout="30m"), batch_only)
    assert not isinstance(ok, list) and ok.timeout_seconds == 1800
