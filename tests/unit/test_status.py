"""The session transition table and how a session's end is decided (pure, no I/O)."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from berth.domain.status import (
    ENDED,
    OCCUPYING,
    TRANSITIONAL,
    TRANSITIONS,
    InvalidTransition,
    SessionResult,
    SessionStatus,
    SessionType,
    StatusInfo,
    can_transition,
    check_transition,
    ended_outcome,
)

S = SessionStatus
NOT_ENDED = [s for s in S if s not in ENDED]
ALL_PAIRS = [(a, b) for a in S for b in S]


def shortest_path_to_end(start: SessionStatus) -> list[SessionStatus] | None:
    """Breadth-first search over the table; None when no ended status is reachable."""
    seen = {start}
    queue: deque[list[SessionStatus]] = deque([[start]])
    while queue:
        path = queue.popleft()
        if path[-1] in ENDED:
            return path
        for nxt in sorted(TRANSITIONS[path[-1]]):
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*path, nxt])
    return None


def force_terminate_path(current: SessionStatus) -> list[SessionStatus]:
    """The statuses the manager's force-terminate walks through (termination.py):
    PENDING is cancelled at once; anything else goes TERMINATING -> TERMINATED."""
    if current is S.PENDING:
        return [S.CANCELLED]
    if current is S.TERMINATING:
        return [S.TERMINATED]
    return [S.TERMINATING, S.TERMINATED]


# --- the table's shape ---------------------------------------------------------------------


def test_table_covers_every_status_and_only_statuses() -> None:
    assert set(TRANSITIONS) == set(S)
    for targets in TRANSITIONS.values():
        assert all(isinstance(t, SessionStatus) for t in targets)


def test_status_sets_are_consistent() -> None:
    assert {S.TERMINATED, S.CANCELLED, S.ERROR} == ENDED
    assert not OCCUPYING & ENDED
    assert S.PENDING not in OCCUPYING  # a pending session holds no resources yet
    assert TRANSITIONAL <= OCCUPYING
    assert S.RUNNING not in TRANSITIONAL and S.PENDING not in TRANSITIONAL


@pytest.mark.parametrize("status", sorted(ENDED))
def test_ended_statuses_have_no_way_out(status: SessionStatus) -> None:
    assert TRANSITIONS[status] == frozenset()
    for new in S:
        assert not can_transition(status, new)


@pytest.mark.parametrize("status", NOT_ENDED)
def test_every_live_status_can_reach_an_end(status: SessionStatus) -> None:
    path = shortest_path_to_end(status)
    assert path is not None, f"{status} can never end"
    for a, b in zip(path, path[1:], strict=False):
        check_transition(a, b)


@pytest.mark.parametrize("status", NOT_ENDED)
def test_every_live_status_can_fail(status: SessionStatus) -> None:
    """Whatever goes wrong, the session can be marked ERROR directly."""
    assert can_transition(status, S.ERROR)


def test_pending_can_be_cancelled_and_scheduled_can_return_to_pending() -> None:
    assert can_transition(S.PENDING, S.CANCELLED)
    assert can_transition(S.PENDING, S.SCHEDULED)
    assert can_transition(S.SCHEDULED, S.PENDING)  # a stale plan is undone


@pytest.mark.parametrize("status", NOT_ENDED)
def test_force_terminate_path_exists_from_every_live_status(status: SessionStatus) -> None:
    first = TRANSITIONS[status] & {S.TERMINATING, S.CANCELLED, S.ERROR}
    assert first, f"no force-terminate step out of {status}"
    current = status
    for new in force_terminate_path(status):
        check_transition(current, new)
        current = new
    assert current in ENDED


@pytest.mark.parametrize("status", sorted(TRANSITIONAL - {S.TERMINATING}))
def test_watchdog_can_end_a_stuck_session(status: SessionStatus) -> None:
    """The watchdog moves a stuck session to TERMINATING and then to ERROR."""
    check_transition(status, S.TERMINATING)
    check_transition(S.TERMINATING, S.ERROR)


def test_the_happy_path_is_allowed() -> None:
    path = [S.PENDING, S.SCHEDULED, S.PREPARING, S.PULLING, S.CREATING, S.RUNNING]
    path += [S.TERMINATING, S.TERMINATED]
    for a, b in zip(path, path[1:], strict=False):
        check_transition(a, b)
    check_transition(S.PREPARING, S.CREATING)  # pulling is optional


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.RUNNING),
        (S.PENDING, S.TERMINATING),
        (S.RUNNING, S.PENDING),
        (S.RUNNING, S.CANCELLED),
        (S.RUNNING, S.TERMINATED),
        (S.CREATING, S.CANCELLED),
        (S.TERMINATING, S.RUNNING),
        (S.TERMINATED, S.RUNNING),
        (S.CANCELLED, S.PENDING),
        (S.ERROR, S.TERMINATED),
        (S.RUNNING, S.RUNNING),
    ],
)
def test_check_transition_rejects_disallowed_changes(
    current: SessionStatus, new: SessionStatus
) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, new)
    assert info.value.current is current
    assert info.value.new is new
    assert str(current) in str(info.value) and str(new) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS)
def test_check_transition_agrees_with_the_table(current: SessionStatus, new: SessionStatus) -> None:
    if new in TRANSITIONS[current]:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, new)


@pytest.mark.parametrize("status", list(S))
def test_staying_in_place_is_never_a_change(status: SessionStatus) -> None:
    assert not can_transition(status, status)


# --- how a session ends --------------------------------------------------------------------

B, INT = SessionType.BATCH, SessionType.INTERACTIVE


@pytest.mark.parametrize(
    ("kind", "exit_code", "oom", "expected"),
    [
        (B, 0, False, (S.TERMINATED, StatusInfo.TASK_FINISHED, SessionResult.SUCCESS)),
        (B, 1, False, (S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE)),
        (B, 3, False, (S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE)),
        (B, 137, True, (S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE)),
        (B, 0, True, (S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE)),
        (B, None, False, (S.TERMINATED, StatusInfo.TASK_FAILED, SessionResult.FAILURE)),
        (INT, 0, False, (S.TERMINATED, StatusInfo.SELF_TERMINATED, SessionResult.UNDEFINED)),
        (INT, 1, False, (S.ERROR, StatusInfo.KERNEL_DIED, SessionResult.FAILURE)),
        (INT, 137, True, (S.ERROR, StatusInfo.KERNEL_DIED, SessionResult.FAILURE)),
        (INT, 0, True, (S.ERROR, StatusInfo.KERNEL_DIED, SessionResult.FAILURE)),
    ],
)
def test_ended_outcome(
    kind: SessionType,
    exit_code: int | None,
    oom: bool,
    expected: tuple[SessionStatus, StatusInfo, SessionResult],
) -> None:
    assert ended_outcome(kind, exit_code, oom) == expected


@given(st.sampled_from(list(SessionType)), st.none() | st.integers(0, 255), st.booleans())
def test_ended_outcome_is_always_reachable_from_terminating(
    kind: SessionType, exit_code: int | None, oom: bool
) -> None:
    status, _, result = ended_outcome(kind, exit_code, oom)
    assert status in ENDED
    check_transition(S.TERMINATING, status)  # the manager ends a session via TERMINATING
    assert (result is SessionResult.SUCCESS) == (kind is B and exit_code == 0 and not oom)


# --- random walks --------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.sampled_from(NOT_ENDED), st.lists(st.integers(0, 1000), max_size=40))
def test_random_walks_stay_in_the_table_and_can_always_finish(
    start: SessionStatus, choices: list[int]
) -> None:
    """Follow arbitrary allowed changes, then finish the walk along the shortest path: it
    always ends within the table, and nothing moves once an ended status is reached."""
    walk = [start]
    for choice in choices:
        options = sorted(TRANSITIONS[walk[-1]])
        if not options:
            break
        walk.append(options[choice % len(options)])
    rest = shortest_path_to_end(walk[-1])
    assert rest is not None
    walk += rest[1:]
    assert walk[-1] in ENDED
    assert all(s not in ENDED for s in walk[:-1]), "an ended status was left again"
    for a, b in zip(walk, walk[1:], strict=False):
        check_transition(a, b)


class SessionWalk(RuleBasedStateMachine):
    """A session driven by arbitrary allowed changes and, at any point, a force-terminate."""

    def __init__(self) -> None:
        super().__init__()
        self.status = S.PENDING
        self.history = [S.PENDING]

    def _move(self, new: SessionStatus) -> None:
        check_transition(self.status, new)
        self.status = new
        self.history.append(new)

    @precondition(lambda self: self.status not in ENDED)
    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        self._move(data.draw(st.sampled_from(sorted(TRANSITIONS[self.status]))))

    @precondition(lambda self: self.status not in ENDED)
    @rule()
    def force_terminate(self) -> None:
        for new in force_terminate_path(self.status):
            self._move(new)
        assert self.status in ENDED

    @precondition(lambda self: self.status in ENDED)
    @rule(new=st.sampled_from(list(S)))
    def ended_stays_ended(self, new: SessionStatus) -> None:
        with pytest.raises(InvalidTransition):
            check_transition(self.status, new)

    @invariant()
    def an_end_is_reachable_and_final(self) -> None:
        ends = [i for i, s in enumerate(self.history) if s in ENDED]
        assert ends in ([], [len(self.history) - 1]), "an ended status was left or revisited"
        assert shortest_path_to_end(self.status) is not None

    def teardown(self) -> None:
        # Finish the walk the shortest way: it must end in an ended status within the table.
        for new in (shortest_path_to_end(self.status) or [])[1:]:
            self._move(new)
        assert self.status in ENDED


SessionWalk.TestCase.settings = settings(max_examples=200, stateful_step_count=30)
TestSessionWalk = SessionWalk.TestCase
