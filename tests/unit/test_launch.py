"""Session creation decided in one pure step (berth.domain.launch.validate_launch): each test
has one expected outcome, several errors come back together, and no clock or database runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain import limits
from berth.domain.launch import (
    AgentFacts,
    ImageFacts,
    LaunchContext,
    LaunchPlan,
    LaunchRequest,
    session_names,
    validate_launch,
)
from berth.domain.rules import RuleError
from berth.domain.status import SessionType

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
GiB, MiB = 2**30, 2**20
IMAGE = ImageFacts("berth/python:3.11", {"cpu": "1", "mem": str(GiB)}, frozenset({8888}))
CTX = LaunchContext(
    owner_id="u1",
    project_id="p1",
    image=IMAGE,
    agents=[AgentFacts("a1", {"cpu": Decimal(4), "mem": Decimal(8 * GiB)})],
    taken_names=frozenset(),
    name_seed="cafe",
    now=NOW,
)
REQ = LaunchRequest(image=IMAGE.ref)
BATCH = replace(REQ, type=SessionType.BATCH, startup_command="python -c 'print(1)'")


def plan_of(req: LaunchRequest, ctx: LaunchContext = CTX) -> LaunchPlan:
    result = validate_launch(req, ctx)
    assert isinstance(result, LaunchPlan), result
    return result


def errors_of(req: LaunchRequest, ctx: LaunchContext = CTX) -> dict[str, str]:
    result = validate_launch(req, ctx)
    assert isinstance(result, list), result
    assert result, "a refusal lists at least one error"
    fields = [e.field for e in result]
    assert len(fields) == len(set(fields)), "at most one error per field"
    return {e.field: e.message for e in result}


def test_defaults_give_one_session_with_the_image_minimum_and_a_generated_name() -> None:
    plan = plan_of(REQ)
    assert plan.names == ["s-cafe"]
    assert plan.slots == {"cpu": Decimal(1), "mem": Decimal(GiB), "shmem": Decimal(64 * MiB)}
    assert (plan.owner_id, plan.project_id, plan.image) == ("u1", "p1", IMAGE.ref)
    assert plan.timeout_seconds is None and plan.starts_at is None


def test_count_gives_numbered_names() -> None:
    assert plan_of(replace(REQ, name="train", count=3)).names == ["train-1", "train-2", "train-3"]


def test_batch_plan_converts_timeout_and_start_time_to_utc() -> None:
    start = datetime(2030, 6, 2, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    plan = plan_of(replace(BATCH, timeout="1.5h", starts_at=start))
    assert plan.timeout_seconds == 5400
    assert plan.starts_at == datetime(2030, 6, 2, 7, 0, tzinfo=UTC)


def test_threads_fill_the_thread_variables_unless_given() -> None:
    plan = plan_of(replace(REQ, threads=3, environ={"OMP_NUM_THREADS": "1"}))
    assert plan.environ == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "3"}


def test_every_error_is_reported_at_once() -> None:
    req = replace(
        REQ,
        name="x",
        cpu=0.005,
        mem="lots",
        environ={"1BAD": "v", "GOOD": ""},
        timeout="5m",
        threads=0,
        preopen_ports=[80],
        other_slots={"gpu": 1.0},
        cluster_mode="multi-node",
    )
    assert errors_of(req) == {
        "name": "must be 4 to 64 characters long",
        "timeout": "only batch sessions take this option",
        "environ.1BAD": "variable name must start with a letter or '_' and contain only "
        "letters, digits and '_'",
        "environ.GOOD": "a value is required",
        "threads": "must be between 1 and 1000",
        "resources.gpu": "unknown resource slot; known slots: cpu, mem, shmem",
        "resources.cpu": "must be a multiple of 0.01 cores",
        "resources.mem": "must be a size such as 512m, 2g or a number of bytes",
        "preopen_ports": "port 80 is outside 1024-65535",
        "cluster_mode": "multi-node clusters are not supported yet; use single-node",
    }


def test_a_taken_name_is_a_field_error_among_the_others() -> None:
    ctx = replace(CTX, taken_names=frozenset({"busy"}))
    assert errors_of(replace(REQ, name="busy", threads=2000), ctx) == {
        "name": "another active session is already named 'busy'",
        "threads": "must be between 1 and 1000",
    }


def test_several_taken_names_of_a_count_are_listed() -> None:
    ctx = replace(CTX, taken_names=frozenset({"trio-1", "trio-3"}))
    assert errors_of(replace(REQ, name="trio", count=3), ctx) == {
        "name": "other active sessions are already named 'trio-1', 'trio-3'"
    }


def test_unknown_image_group_and_owner() -> None:
    ctx = replace(CTX, image=None, agents=[], owner_id=None)
    assert errors_of(replace(REQ, image="no/such", owner_email="ghost@example.com"), ctx) == {
        "image": "unknown image 'no/such'; see the image list",
        "resource_group": "no agent in resource group default",
        "owner_email": "no active user with email ghost@example.com",
    }


def test_image_no_agent_has_is_unknown() -> None:
    ctx = replace(CTX, image=replace(IMAGE, available=False))
    assert errors_of(REQ, ctx) == {"image": "unknown image 'berth/python:3.11'; see the image list"}


def test_designated_agent_must_be_in_the_group() -> None:
    assert errors_of(replace(REQ, agent="elsewhere")) == {
        "agent": "no agent elsewhere in resource group default"
    }


def test_resources_beyond_the_largest_agent() -> None:
    assert errors_of(replace(REQ, cpu=8, mem="16g")) == {
        "resources.cpu": "exceeds the largest agent's capacity (4 cores)",
        "resources.mem": "exceeds the largest agent's capacity (8g)",
    }


def test_resources_below_the_image_minimum() -> None:
    assert errors_of(replace(REQ, cpu=0.5, mem="512m")) == {
        "resources.cpu": "the image needs at least 1 core",
        "resources.mem": "the image needs at least 1g",
    }


def test_shmem_larger_than_memory() -> None:
    assert errors_of(replace(REQ, mem="1g", shmem="2g")) == {
        "resources.shmem": "must not be larger than memory"
    }


@pytest.mark.parametrize(
    ("mem", "message"),
    [("99999999999t", "must be at most 64t"), (10**30, "must be at most 64t"),
     ("9" * 400, "must be at most 64t"), ("63m", "must be at least 64m")],
)
def test_memory_outside_its_range(mem: str | int, message: str) -> None:
    assert errors_of(replace(REQ, mem=mem)) == {"resources.mem": message}


@pytest.mark.parametrize(
    ("cpu", "message"),
    [(float("nan"), "must be a finite number"), (float("inf"), "must be a finite number"),
     (1024.01, "must be at most 1024 cores"), (1e300, "must be at most 1024 cores"),
     (-1.0, "must be greater than zero")],
)
def test_cpu_outside_its_range(cpu: float, message: str) -> None:
    assert errors_of(replace(REQ, cpu=cpu)) == {"resources.cpu": message}


def test_cpu_at_the_limit_is_refused_only_for_capacity() -> None:
    big = replace(CTX, agents=[AgentFacts("a1", {"cpu": Decimal(1024), "mem": Decimal(GiB)})])
    assert plan_of(replace(REQ, cpu=1024.0), big).slots["cpu"] == Decimal(1024)


def test_batch_needs_a_command_and_interactive_takes_no_batch_options() -> None:
    assert errors_of(replace(REQ, type=SessionType.BATCH)) == {
        "startup_command": "a batch session needs a startup command"
    }
    assert errors_of(replace(REQ, startup_command="x", starts_at=NOW)) == {
        "startup_command": "only batch sessions take this option",
        "starts_at": "only batch sessions take this option",
    }


def test_startup_command_limit_counts_utf8_bytes() -> None:
    at_limit = "#" * limits.STARTUP_COMMAND_MAX
    assert plan_of(replace(BATCH, startup_command=at_limit)).startup_command == at_limit
    # Half as many characters, but each is two bytes and one more makes it too long.
    over = "é" * (limits.STARTUP_COMMAND_MAX // 2) + "x"
    assert errors_of(replace(BATCH, startup_command=over)) == {
        "startup_command": "must be at most 64 KiB (UTF-8)"
    }


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(-limits.STARTS_AT_PAST_MAX, True), (-limits.STARTS_AT_PAST_MAX - timedelta(seconds=1),
                                           False),
     (limits.STARTS_AT_FUTURE_MAX, True), (limits.STARTS_AT_FUTURE_MAX + timedelta(seconds=1),
                                           False)],
)
def test_start_time_window(offset: timedelta, ok: bool) -> None:
    req = replace(BATCH, starts_at=NOW + offset)
    if ok:
        assert plan_of(req).starts_at == NOW + offset
    else:
        assert list(errors_of(req)) == ["starts_at"]


@pytest.mark.parametrize(
    "when",
    [datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
     datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14)))],
)
def test_start_times_at_the_ends_of_the_calendar_are_refused_not_overflowed(
    when: datetime,
) -> None:
    assert list(errors_of(replace(BATCH, starts_at=when))) == ["starts_at"]


def test_start_time_needs_a_timezone() -> None:
    assert errors_of(replace(BATCH, starts_at=datetime(2030, 6, 2))) == {
        "starts_at": "must include a timezone, e.g. 2030-01-01T09:00:00+00:00"
    }


@pytest.mark.parametrize(("timeout", "seconds"), [("365d", 31_536_000), ("52w", 31_449_600)])
def test_timeout_at_the_limit(timeout: str, seconds: int) -> None:
    assert plan_of(replace(BATCH, timeout=timeout)).timeout_seconds == seconds
    assert seconds < 2**31  # fits the 32-bit column on PostgreSQL


@pytest.mark.parametrize("timeout", ["366d", "53w", "31536001s", "9" * 30 + "w"])
def test_timeout_past_the_limit(timeout: str) -> None:
    assert errors_of(replace(BATCH, timeout=timeout)) == {"timeout": "must be at most 365d"}


def test_environment_at_its_limits_passes() -> None:
    # 256 variables; 7 values of 32 KiB plus small ones stay inside 256 KiB in all.
    environ = {f"V{i:03d}": "x" for i in range(limits.ENV_COUNT_MAX)}
    for i in range(7):
        environ[f"V{i:03d}"] = "y" * limits.ENV_VALUE_MAX
    environ["N" * limits.ENV_NAME_MAX] = "z"
    del environ["V255"]
    assert plan_of(replace(REQ, environ=environ)).environ == environ


def test_environment_past_its_limits() -> None:
    environ = {f"V{i:03d}": "x" for i in range(limits.ENV_COUNT_MAX + 1)}
    environ["V000"] = "é" * (limits.ENV_VALUE_MAX // 2 + 1)
    environ["N" * (limits.ENV_NAME_MAX + 1)] = "v"
    errors = errors_of(replace(REQ, environ=environ))
    assert errors == {
        "environ.V000": "value must be at most 32 KiB (UTF-8)",
        "environ." + "N" * 257: "variable name must be at most 256 characters long",
        "environ": "at most 256 variables are allowed",
    }


def test_environment_total_size() -> None:
    environ = {f"V{i}": "y" * limits.ENV_VALUE_MAX for i in range(8)}  # 8 x (32 KiB + 4)
    assert errors_of(replace(REQ, environ=environ))["environ"].startswith(
        "the variables must total at most 256 KiB"
    )


def test_count_outside_its_range() -> None:
    assert errors_of(replace(REQ, count=21)) == {"count": "must be between 1 and 20"}
    assert len(plan_of(replace(REQ, name="many", count=20)).names) == 20


@pytest.mark.parametrize(("amount", "text"), [("1", "1 core"), ("1.0", "1 core"),
                                              ("0.5", "0.5 cores"), ("4", "4 cores")])
def test_cores_read_naturally(amount: str, text: str) -> None:
    from berth.domain.launch import cores

    assert cores(Decimal(amount)) == text


def test_session_names_are_pure() -> None:
    assert session_names(replace(REQ, count=2), "beef") == ["s-beef-1", "s-beef-2"]


CUDA_IMAGE = replace(CTX.image, accelerators=frozenset({"cuda"})) if CTX.image else None


def gpu_context(monkeypatch: pytest.MonkeyPatch, **slots: int) -> LaunchContext:
    """CTX with a CUDA image and one agent that has ``slots`` (registered) besides 4 cores."""
    from berth.domain import slots as registry

    for name in slots:
        monkeypatch.setitem(registry.ACCELERATOR_SLOTS, name.replace("_", "."), "GPU")
    return replace(CTX, image=CUDA_IMAGE, agents=[AgentFacts("a1", {
        "cpu": Decimal(4), "mem": Decimal(8 * GiB),
        **{k.replace("_", "."): Decimal(v) for k, v in slots.items()}})])


def test_registered_accelerator_slots_are_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = gpu_context(monkeypatch, cuda_device=2)
    assert isinstance(validate_launch(replace(REQ, other_slots={"cuda.device": 1.0}), gpus),
                      LaunchPlan)
    assert "resources.gpu" in errors_of(replace(REQ, other_slots={"gpu": 1.0}))


def test_accelerators_no_agent_could_ever_give_are_refused_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = gpu_context(monkeypatch, cuda_device=2, cuda_shares=2)
    three = validate_launch(replace(REQ, other_slots={"cuda.device": 3.0}), gpus)
    assert isinstance(three, list)
    assert [(e.field, "exceeds the largest agent's 2" in e.message) for e in three] == [
        ("resources.cuda.device", True)]
    none = validate_launch(replace(REQ, other_slots={"cuda.device": 1.0}),
                           replace(CTX, image=CUDA_IMAGE))
    assert isinstance(none, list) and "no agent" in none[0].message
    # Two kernels of 2 whole GPUs each need 4 on one agent (single-node clusters).
    pair = validate_launch(replace(REQ, other_slots={"cuda.device": 2.0}, cluster_size=2), gpus)
    assert isinstance(pair, list) and pair[0].field == "resources.cuda.device"


def test_accelerator_amounts_follow_the_device_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = gpu_context(monkeypatch, cuda_device=2, cuda_shares=2)
    cases = {
        "cuda.device": (1.5, "whole number"),
        "cuda.shares": (1.5, "at most 1"),
    }
    for name, (amount, words) in cases.items():
        found = validate_launch(replace(REQ, other_slots={name: amount}), gpus)
        assert isinstance(found, list) and found[0].field == f"resources.{name}"
        assert words in found[0].message
    step = validate_launch(replace(REQ, other_slots={"cuda.shares": 0.25}), gpus)
    assert isinstance(step, list) and "multiple of the step 0.1" in step[0].message
    coarse = replace(gpus, group=replace(gpus.group, accelerator_quantum=Decimal("0.25")))
    assert isinstance(validate_launch(replace(REQ, other_slots={"cuda.shares": 0.25}), coarse),
                      LaunchPlan)
    cluster = validate_launch(replace(REQ, other_slots={"cuda.shares": 0.5}, cluster_size=2),
                              gpus)
    assert isinstance(cluster, list) and "whole devices only" in cluster[0].message


# --- properties ------------------------------------------------------------------------------

cpus = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 5000))
sizes = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=40),
                  st.from_regex(r"\A\d{1,30}(\.\d{1,5})?[kmgtKMGT]?\Z", fullmatch=True))


@given(cpu=cpus, mem=sizes, shmem=sizes, count=st.integers(-5, 50),
       timeout=st.one_of(st.none(), st.from_regex(r"\A\d{1,40}(\.\d{1,3})?[smhdw]\Z",
                                                   fullmatch=True)),
       starts=st.datetimes(timezones=st.timezones()))
def test_any_request_gets_a_plan_within_the_limits_or_errors_naming_fields(
    cpu: float, mem: str | int, shmem: str | int, count: int, timeout: str | None,
    starts: datetime,
) -> None:
    """Whatever the values, the answer is a plan whose values fit every column and limit, or
    a list of errors each naming a field: never an exception (overflow, bad decimal)."""
    big = replace(CTX, agents=[AgentFacts("a1", {"cpu": Decimal(1024),
                                                 "mem": Decimal(limits.MEM_MAX)})])
    req = replace(BATCH, cpu=float(cpu), mem=mem, shmem=shmem, count=count, timeout=timeout,
                  starts_at=starts)
    result = validate_launch(req, big)
    if isinstance(result, LaunchPlan):
        assert 0 < result.slots["cpu"] <= limits.CPU_MAX
        assert limits.MEM_MIN <= result.slots["mem"] <= limits.MEM_MAX
        assert 0 < result.slots["shmem"] <= result.slots["mem"]
        assert result.timeout_seconds is None or 0 < result.timeout_seconds < 2**31
        assert result.starts_at is not None
        assert abs(result.starts_at - NOW) <= limits.STARTS_AT_FUTURE_MAX
        assert 1 <= len(result.names) <= limits.SESSIONS_PER_REQUEST_MAX
    else:
        assert result and all(isinstance(e, RuleError) and e.field for e in result)


def test_a_gpu_needs_an_image_that_declares_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.domain import slots

    for name in ("cuda.device", "mock-gpu.device"):
        monkeypatch.setitem(slots.ACCELERATOR_SLOTS, name, "GPU")
    assert CTX.image is not None
    gpus = replace(CTX, agents=[AgentFacts("a1", {"cpu": Decimal(4), "mem": Decimal(8 * GiB),
                                                  "cuda.device": Decimal(2),
                                                  "mock-gpu.device": Decimal(2)})])
    refused = validate_launch(replace(REQ, other_slots={"cuda.device": 1.0}), gpus)
    assert isinstance(refused, list) and refused[0].field == "image"
    assert "cannot use cuda devices" in refused[0].message
    assert "berth.accelerators" in refused[0].message
    cuda_image = replace(gpus, image=replace(CTX.image, accelerators=frozenset({"cuda"})))
    assert isinstance(validate_launch(replace(REQ, other_slots={"cuda.device": 1.0}),
                                      cuda_image), LaunchPlan)
    # A mock GPU needs no support from the image (tests and demos).
    assert isinstance(validate_launch(replace(REQ, other_slots={"mock-gpu.device": 1.0}), gpus),
                      LaunchPlan)
