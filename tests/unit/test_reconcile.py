"""The reconciliation decisions (pure): heartbeats, kernel events and the watchdog, from a
snapshot and the time to actions. No processes, no clock; one expected outcome per case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.reconcile import (
    LIVE,
    AgentView,
    Destroy,
    DestroyOrphan,
    EndSession,
    Fail,
    Graces,
    HeartbeatSnapshot,
    KernelView,
    MarkAgentLost,
    MarkRunning,
    RecordExit,
    RecordKernel,
    Redispatch,
    Resend,
    SessionView,
    WatchdogSnapshot,
    on_event,
    reconcile,
    watch_session,
    watchdog,
)
from berth.domain.status import (
    TRANSITIONS,
    SessionResult,
    SessionStatus,
    SessionType,
    StatusInfo,
)
from berth.rpc import AppPort, EventKind, KernelReport, KernelState

S = SessionStatus
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
G = Graces(
    create_grace=timedelta(seconds=30),
    resend_after=timedelta(seconds=10),
    transition_timeout=timedelta(seconds=600),
    heartbeat_timeout=timedelta(seconds=30),
)
AGENT = "a1"
PORTS = (AppPort(name="jupyter", protocol="http", container_port=8888, host_port=30001),)


def session(
    status: SessionStatus,
    ago: float = 60,
    type: SessionType = SessionType.INTERACTIVE,
    started_ago: float | None = None,
    timeout: int | None = None,
    dispatching: bool = False,
    destroying: bool = False,
    id: str = "s1",
) -> SessionView:
    return SessionView(
        id=id,
        status=status,
        type=type,
        status_changed_at=NOW - timedelta(seconds=ago),
        started_at=None if started_ago is None else NOW - timedelta(seconds=started_ago),
        timeout_seconds=timeout,
        dispatching=dispatching,
        destroying=destroying,
    )


def report(
    state: KernelState,
    kernel_id: str = "k1",
    exit_code: int | None = None,
    oom: bool = False,
) -> KernelReport:
    return KernelReport(
        kernel_id=kernel_id,
        session_id="s1",
        state=state,
        container_id="c1" if state is not KernelState.CREATING else None,
        exit_code=exit_code,
        oom_killed=oom,
        app_ports=list(PORTS),
    )


def beat(
    s: SessionView,
    *reports: KernelReport,
    has_ports: bool = False,
    unreadable: frozenset[str] = frozenset(),
) -> list[object]:
    snapshot = HeartbeatSnapshot(
        agent_id=AGENT,
        sessions=(s,),
        kernels=(KernelView("k1", s.id, has_app_ports=has_ports),),
        reports=reports,
        unreadable_kernels=unreadable,
    )
    return list(reconcile(snapshot, NOW, G))


# --- heartbeats -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.PREPARING, S.CREATING])
def test_a_running_kernel_marks_a_starting_session_running(status: SessionStatus) -> None:
    assert beat(session(status), report(KernelState.RUNNING)) == [
        RecordKernel("s1", "k1", "c1", PORTS),
        MarkRunning("s1"),
    ]


def test_a_running_session_gets_its_app_ports_once() -> None:
    assert beat(session(S.RUNNING), report(KernelState.RUNNING)) == [
        RecordKernel("s1", "k1", "c1", PORTS)
    ]
    assert beat(session(S.RUNNING), report(KernelState.RUNNING), has_ports=True) == []


def test_a_terminating_session_is_not_marked_running() -> None:
    actions = beat(session(S.TERMINATING), report(KernelState.RUNNING))
    assert not any(isinstance(a, MarkRunning) for a in actions)


@pytest.mark.parametrize(
    ("type_", "code", "oom", "final", "info", "result"),
    [
        (
            SessionType.BATCH,
            0,
            False,
            S.TERMINATED,
            StatusInfo.TASK_FINISHED,
            SessionResult.SUCCESS,
        ),
        (SessionType.BATCH, 3, False, S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE),
        (SessionType.BATCH, 0, True, S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE),
        (
            SessionType.INTERACTIVE,
            0,
            False,
            S.TERMINATED,
            StatusInfo.SELF_TERMINATED,
            SessionResult.UNDEFINED,
        ),
        (
            SessionType.INTERACTIVE,
            137,
            False,
            S.ERROR,
            StatusInfo.KERNEL_DIED,
            SessionResult.FAILURE,
        ),
    ],
)
def test_an_exited_kernel_ends_a_running_session(
    type_: SessionType,
    code: int,
    oom: bool,
    final: SessionStatus,
    info: StatusInfo,
    result: SessionResult,
) -> None:
    actions = beat(
        session(S.RUNNING, type=type_), report(KernelState.EXITED, exit_code=code, oom=oom)
    )
    data = {"exit_code": code, "oom_killed": oom}
    assert actions == [
        RecordExit("s1", "k1", code),
        EndSession("s1", info, final, info, result, data, code),
        Destroy("s1"),
    ]


def test_an_exited_kernel_of_a_terminating_session_is_destroyed_without_a_new_end() -> None:
    actions = beat(session(S.TERMINATING), report(KernelState.EXITED, exit_code=143))
    assert actions == [RecordExit("s1", "k1", 143), Destroy("s1")]


def test_a_kernel_still_being_created_is_left_alone() -> None:
    assert beat(session(S.CREATING, ago=3600), report(KernelState.CREATING)) == []


def test_a_missing_kernel_within_the_grace_is_left_alone() -> None:
    for status in (S.PREPARING, S.CREATING, S.RUNNING):
        assert beat(session(status, ago=30)) == []


def test_a_running_session_whose_kernel_is_gone_is_lost() -> None:
    [fail] = beat(session(S.RUNNING, ago=31))
    assert fail == Fail(
        "s1",
        StatusInfo.KERNEL_LOST,
        {"error": "the agent has no container for this kernel any more", "where": "agent a1"},
    )


@pytest.mark.parametrize("status", [S.PREPARING, S.CREATING])
def test_a_starting_session_the_agent_never_heard_of_fails_to_start(status: SessionStatus) -> None:
    [fail] = beat(session(status, ago=31))
    assert isinstance(fail, Fail) and fail.info is StatusInfo.FAILED_TO_START


def test_a_session_still_queued_for_its_hand_over_is_not_failed() -> None:
    """A burst queues hand-overs: a PREPARING session its manager is still dispatching waits
    however long it has been placed; its grace starts once it is CREATING."""
    assert beat(session(S.PREPARING, ago=3600, dispatching=True)) == []
    [fail] = beat(session(S.CREATING, ago=31, dispatching=True))
    assert isinstance(fail, Fail) and fail.info is StatusInfo.FAILED_TO_START


def test_a_terminating_session_whose_kernel_is_gone_waits_for_its_destroy() -> None:
    assert beat(session(S.TERMINATING, ago=3600)) == []


def test_an_unknown_kernel_is_an_orphan_unless_still_creating() -> None:
    stray = report(KernelState.RUNNING, kernel_id="k9")
    new = report(KernelState.CREATING, kernel_id="k8")
    actions = beat(session(S.RUNNING), report(KernelState.RUNNING), stray, new, has_ports=True)
    assert actions == [DestroyOrphan("k9")]


def test_a_kernel_of_a_session_that_could_not_be_read_is_not_an_orphan() -> None:
    stray = report(KernelState.RUNNING, kernel_id="k9")
    snapshot = HeartbeatSnapshot(AGENT, (), (), (stray,), unreadable_kernels=frozenset({"k9"}))
    assert reconcile(snapshot, NOW, G) == []


def test_a_session_with_two_kernels_ends_once() -> None:
    s = session(S.RUNNING, ago=3600)
    snapshot = HeartbeatSnapshot(AGENT, (s,), (KernelView("k1", "s1"), KernelView("k2", "s1")), ())
    assert [type(a) for a in reconcile(snapshot, NOW, G)] == [Fail]


def test_the_second_kernel_of_a_session_just_marked_running_only_records_ports() -> None:
    s = session(S.CREATING)
    snapshot = HeartbeatSnapshot(
        AGENT,
        (s,),
        (KernelView("k1", "s1"), KernelView("k2", "s1")),
        (report(KernelState.RUNNING), report(KernelState.RUNNING, kernel_id="k2")),
    )
    assert reconcile(snapshot, NOW, G) == [
        RecordKernel("s1", "k1", "c1", PORTS),
        MarkRunning("s1"),
        RecordKernel("s1", "k2", "c1", PORTS),
    ]


@given(
    status=st.sampled_from(sorted(LIVE)),
    ago=st.floats(min_value=0, max_value=10_000),
    state=st.sampled_from([None, *KernelState]),
    exit_code=st.one_of(st.none(), st.integers(0, 255)),
    type_=st.sampled_from(list(SessionType)),
)
def test_every_heartbeat_decision_fits_the_transition_table(
    status: SessionStatus,
    ago: float,
    state: KernelState | None,
    exit_code: int | None,
    type_: SessionType,
) -> None:
    """Whatever a heartbeat reports, the decided status changes are allowed from the session's
    status, at most one decides the session's end, and an end is always followed by Destroy
    unless it fails the session at once."""
    reports = () if state is None else (report(state, exit_code=exit_code),)
    actions = beat(session(status, ago=ago, type=type_), *reports)
    ends = [a for a in actions if isinstance(a, EndSession | Fail)]
    assert len(ends) <= 1
    for a in ends:
        target = S.ERROR if isinstance(a, Fail) else S.TERMINATING
        assert target in TRANSITIONS[status]
    if any(isinstance(a, EndSession) for a in actions):
        assert actions[-1] == Destroy("s1")
    if any(isinstance(a, MarkRunning) for a in actions):
        assert status in (S.PREPARING, S.CREATING)


# --- kernel events --------------------------------------------------------------------------


def test_started_marks_a_creating_session_running() -> None:
    actions = on_event(
        EventKind.STARTED, session(S.CREATING), "k1", report(KernelState.RUNNING), AGENT
    )
    assert actions == [RecordKernel("s1", "k1", "c1", PORTS), MarkRunning("s1")]


@pytest.mark.parametrize("status", [S.TERMINATED, S.CANCELLED, S.ERROR])
def test_started_after_the_session_ended_removes_the_kernel(status: SessionStatus) -> None:
    actions = on_event(EventKind.STARTED, session(status), "k1", report(KernelState.RUNNING), AGENT)
    assert actions == [DestroyOrphan("k1")]


@pytest.mark.parametrize("status", [S.SCHEDULED, S.PREPARING, S.CREATING])
def test_create_failed_fails_a_starting_session(status: SessionStatus) -> None:
    actions = on_event(
        EventKind.CREATE_FAILED,
        session(status),
        "k1",
        report(KernelState.EXITED),
        AGENT,
        "no such image",
    )
    assert actions == [
        Fail("s1", StatusInfo.FAILED_TO_START, {"error": "no such image", "where": "agent a1"})
    ]


@pytest.mark.parametrize("status", [S.RUNNING, S.TERMINATING, S.ERROR])
def test_a_late_create_failed_changes_nothing(status: SessionStatus) -> None:
    actions = on_event(
        EventKind.CREATE_FAILED, session(status), "k1", report(KernelState.EXITED), AGENT
    )
    assert actions == []


def test_a_repeated_exited_event_of_an_ended_session_only_records_the_code() -> None:
    actions = on_event(
        EventKind.EXITED,
        session(S.TERMINATED),
        "k1",
        report(KernelState.EXITED, exit_code=0),
        AGENT,
    )
    assert actions == [RecordExit("s1", "k1", 0)]


# --- the watchdog ---------------------------------------------------------------------------


def test_a_batch_session_past_its_timeout_ends_as_task_timeout() -> None:
    s = session(S.RUNNING, type=SessionType.BATCH, started_ago=60, timeout=60)
    info = StatusInfo.TASK_TIMEOUT
    assert watch_session(s, NOW, G) == [
        EndSession("s1", info, S.TERMINATED, info, SessionResult.FAILURE, {"timeout_seconds": 60}),
        Destroy("s1"),
    ]


@pytest.mark.parametrize(
    "s",
    [
        session(S.RUNNING, type=SessionType.BATCH, started_ago=59, timeout=60),
        session(S.RUNNING, type=SessionType.BATCH, started_ago=10**6, timeout=None),
        session(S.RUNNING, type=SessionType.INTERACTIVE, started_ago=10**6, timeout=1),
        session(S.RUNNING, type=SessionType.BATCH, started_ago=None, timeout=1),
        session(S.RUNNING, ago=10**6),
    ],
)
def test_running_sessions_within_their_limits_are_left_alone(s: SessionView) -> None:
    assert watch_session(s, NOW, G) == []


@pytest.mark.parametrize("status", [S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING])
def test_a_session_stuck_in_a_starting_status_ends_as_error(status: SessionStatus) -> None:
    info = StatusInfo.STUCK_TIMEOUT
    data = {"error": f"no progress in {status} for 600 s", "where": str(status)}
    assert watch_session(session(status, ago=601), NOW, G) == [
        EndSession("s1", info, S.ERROR, info, SessionResult.FAILURE, data),
        Destroy("s1"),
    ]


def test_a_terminating_session_is_destroyed_again_then_forced() -> None:
    assert watch_session(session(S.TERMINATING, ago=5), NOW, G) == [Destroy("s1")]
    assert watch_session(session(S.TERMINATING, ago=5, destroying=True), NOW, G) == []
    assert watch_session(session(S.TERMINATING, ago=601, destroying=True), NOW, G) == [
        Destroy("s1", force=True)
    ]


def test_a_scheduled_session_nobody_dispatches_is_dispatched_again() -> None:
    assert watch_session(session(S.SCHEDULED, ago=1), NOW, G) == [Redispatch("s1")]
    assert watch_session(session(S.SCHEDULED, ago=1, dispatching=True), NOW, G) == []


def test_a_preparing_session_is_resent_only_after_the_wait() -> None:
    assert watch_session(session(S.PREPARING, ago=10), NOW, G) == []
    assert watch_session(session(S.PREPARING, ago=11), NOW, G) == [Resend("s1")]
    assert watch_session(session(S.PREPARING, ago=11, dispatching=True), NOW, G) == []


@pytest.mark.parametrize("status", [S.PENDING, S.TERMINATED, S.CANCELLED, S.ERROR])
def test_the_watchdog_leaves_pending_and_ended_sessions_alone(status: SessionStatus) -> None:
    assert watch_session(session(status, ago=10**6), NOW, G) == []


def test_a_silent_agent_is_lost_and_a_recent_or_lost_one_is_not() -> None:
    silent = AgentView("a1", alive=True, last_heartbeat=NOW - timedelta(seconds=31))
    recent = AgentView("a2", alive=True, last_heartbeat=NOW - timedelta(seconds=30))
    lost = AgentView("a3", alive=False, last_heartbeat=NOW - timedelta(days=1))
    actions = watchdog(WatchdogSnapshot((), (silent, recent, lost)), NOW, G)
    assert actions == [MarkAgentLost("a1", silent.last_heartbeat)]


def test_graces_come_from_the_settings() -> None:
    from berth.manager.services.isolation import graces_of
    from berth.settings import ManagerSettings

    settings = ManagerSettings(
        create_grace=2, resend_after=3, transition_timeout=4, heartbeat_timeout=5
    )
    assert graces_of(settings) == Graces(
        timedelta(seconds=2), timedelta(seconds=3), timedelta(seconds=4), timedelta(seconds=5)
    )


@given(
    status=st.sampled_from(list(S)),
    ago=st.floats(min_value=0, max_value=10**7),
    dispatching=st.booleans(),
    destroying=st.booleans(),
)
def test_every_watchdog_decision_fits_the_transition_table(
    status: SessionStatus, ago: float, dispatching: bool, destroying: bool
) -> None:
    s = session(
        status,
        ago=ago,
        dispatching=dispatching,
        destroying=destroying,
        type=SessionType.BATCH,
        started_ago=ago,
        timeout=60,
    )
    actions = watch_session(s, NOW, G)
    for a in actions:
        if isinstance(a, EndSession):
            assert S.TERMINATING in TRANSITIONS[status]
            assert a.final_status in TRANSITIONS[S.TERMINATING]
    assert len([a for a in actions if isinstance(a, EndSession)]) <= 1
