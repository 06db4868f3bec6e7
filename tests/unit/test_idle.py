"""The idle checks (pure): session lifetime, network timeout and utilization, from stored
facts and the time. Examples per rule, then properties: deadlines only count down, nothing
is reclaimed before a deadline it showed, more activity or more use never reclaims sooner,
no data never reclaims, the same facts give the same report (a restarted manager continues)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain.idle import (
    REACHED_TEXT,
    IdleCheck,
    IdlePolicy,
    IdleReport,
    IdleSettings,
    Sample,
    SessionFacts,
    UtilizationRule,
    evaluate,
    format_remaining,
    resolve,
    urgency,
)
from berth.domain.status import SessionType

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LIFE, NET, UTIL = IdleCheck.SESSION_LIFETIME, IdleCheck.NETWORK_TIMEOUT, IdleCheck.UTILIZATION
EPS = 1e-6


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def facts(**kwargs: object) -> SessionFacts:
    kwargs.setdefault("type", SessionType.INTERACTIVE)
    kwargs.setdefault("started_at", T0)
    return SessionFacts(**kwargs)  # type: ignore[arg-type]


def steady(values: Mapping[str, float | None], start: float, end: float,
           step: float = 5) -> list[Sample]:
    """A sample every ``step`` seconds from ``start`` to ``end`` (both included)."""
    out, t = [], start
    while t <= end:
        out.append(Sample(at(t), dict(values)))
        t += step
    return out


def util(thresholds: Mapping[str, float], window: int = 300, grace: int = 0,
         combine: str = "and", warn_before: int = 0) -> IdlePolicy:
    return IdlePolicy(utilization=UtilizationRule(grace, window, thresholds, combine),  # type: ignore[arg-type]
                      warn_before=warn_before)


def usage_of(report: IdleReport, resource: str):  # type: ignore[no-untyped-def]
    return next(u for u in report.usage if u.resource == resource)


# ---- session lifetime ------------------------------------------------------------------------
def test_lifetime_counts_from_the_start_and_reclaims_at_its_deadline() -> None:
    policy = IdlePolicy(max_lifetime=3600)
    early = evaluate(policy, facts(), at(1000))
    state = early.check(LIFE)
    assert state.remaining == 2600 and state.deadline == at(3600) and not state.reached
    assert early.verdict is None

    late = evaluate(policy, facts(), at(3600))
    assert late.check(LIFE).remaining == 0 and late.check(LIFE).reached
    assert late.verdict is not None
    assert late.verdict.status_info == "idle-session-lifetime"
    assert late.verdict.data["max_lifetime"] == 3600 and late.verdict.data["lifetime"] == 3600
    assert late.verdict.data["started_at"] == T0.isoformat()


def test_lifetime_also_applies_to_batch_sessions() -> None:
    report = evaluate(IdlePolicy(max_lifetime=60), facts(type=SessionType.BATCH), at(61))
    assert report.verdict is not None and report.verdict.check == LIFE


def test_checks_that_are_off_show_no_remaining_time() -> None:
    report = evaluate(IdlePolicy(), facts(), at(10**7))
    assert [c.check for c in report.checks] == [LIFE, NET, UTIL]
    assert all(c.remaining is None and c.detail["reason"] == "not configured"
               for c in report.checks)
    assert report.verdict is None and report.usage == ()
    assert format_remaining(report.check(LIFE).remaining) == "-"


# ---- network timeout -------------------------------------------------------------------------
def test_network_timeout_counts_from_the_start_without_any_traffic() -> None:
    policy = IdlePolicy(network_timeout=600)
    assert evaluate(policy, facts(), at(599)).verdict is None
    report = evaluate(policy, facts(), at(600))
    assert report.verdict is not None and report.verdict.status_info == "idle-timeout"
    assert report.verdict.data == {"idle_timeout": 600, "last_activity_at": T0.isoformat(),
                                   "idle_for": 600.0}


def test_network_timeout_counts_from_the_last_traffic() -> None:
    policy = IdlePolicy(network_timeout=600)
    seen = facts(last_activity_at=at(1000))
    state = evaluate(policy, seen, at(1500)).check(NET)
    assert state.remaining == 100 and state.deadline == at(1600)
    assert evaluate(policy, seen, at(1599)).verdict is None
    assert evaluate(policy, seen, at(1600)).verdict is not None


def test_traffic_stamped_before_the_start_counts_as_the_start() -> None:
    state = evaluate(IdlePolicy(network_timeout=600), facts(last_activity_at=at(-50)),
                     at(100)).check(NET)
    assert state.remaining == 500


def test_batch_sessions_are_exempt_from_the_network_timeout() -> None:
    report = evaluate(IdlePolicy(network_timeout=60), facts(type=SessionType.BATCH),
                      at(10**6))
    assert report.verdict is None
    assert report.check(NET).remaining is None
    assert report.check(NET).detail["reason"] == "batch sessions are exempt"


def test_when_several_checks_are_reached_the_first_in_order_is_named() -> None:
    policy = IdlePolicy(max_lifetime=100, network_timeout=50,
                        utilization=UtilizationRule(0, 30, {"cpu": 10}))
    f = facts(requested=frozenset({"cpu"}), samples=steady({"cpu": 0}, 0, 200))
    report = evaluate(policy, f, at(200))
    assert all(c.reached for c in report.checks)
    assert report.verdict is not None and report.verdict.check == LIFE
    no_life = IdlePolicy(network_timeout=50, utilization=policy.utilization)
    report = evaluate(no_life, f, at(200))
    assert report.verdict is not None and report.verdict.status_info == "idle-timeout"


# ---- utilization -----------------------------------------------------------------------------
def test_idle_session_is_reclaimed_once_the_window_is_full() -> None:
    policy = util({"cpu": 10}, window=300)
    f = facts(requested=frozenset({"cpu"}), samples=steady({"cpu": 1}, 0, 1000))
    filling = evaluate(policy, f, at(200))
    assert filling.verdict is None
    assert filling.check(UTIL).detail["phase"] == "filling"
    cpu = usage_of(filling, "cpu")
    assert cpu.coverage == "partial" and not cpu.considered
    assert cpu.average == pytest.approx(1) and cpu.covered == pytest.approx(200 / 300)
    assert filling.check(UTIL).remaining == pytest.approx(100)

    assert evaluate(policy, f, at(299.5)).verdict is None
    report = evaluate(policy, f, at(300))
    assert report.verdict is not None and report.verdict.status_info == "idle-utilization"
    assert report.verdict.data["resources"] == {"cpu": {"average": 1.0, "threshold": 10}}
    assert report.verdict.data["below"] == ["cpu"]
    assert usage_of(report, "cpu").level == "below"
    assert json.loads(json.dumps(report.verdict.data)) == report.verdict.data


def test_grace_period_is_counted_from_the_start_and_brief_use_does_not_extend_it() -> None:
    policy = util({"cpu": 10}, window=300, grace=600)
    busy_then_idle = steady({"cpu": 100}, 0, 195) + steady({"cpu": 0}, 200, 2000)
    f = facts(requested=frozenset({"cpu"}), samples=busy_then_idle)
    during = evaluate(policy, f, at(250))
    assert during.verdict is None and during.check(UTIL).detail["phase"] == "grace"
    assert during.check(UTIL).remaining == pytest.approx(350)
    assert evaluate(policy, f, at(599)).verdict is None
    report = evaluate(policy, f, at(600))
    assert report.verdict is not None and report.verdict.check == UTIL


def test_use_keeps_the_remaining_time_up_and_idleness_counts_it_down() -> None:
    policy = util({"cpu": 10}, window=600)
    f = facts(requested=frozenset({"cpu"}), samples=steady({"cpu": 50}, 0, 1000))
    # Were it idle from now on, the window's mean would fall under 10 % once less than
    # 120 s of the 50 % use is left in it: 600 - 120 = 480 s from now.
    assert evaluate(policy, f, at(1000)).check(UTIL).remaining == pytest.approx(480)
    idle = facts(requested=frozenset({"cpu"}),
                 samples=steady({"cpu": 50}, 0, 995) + steady({"cpu": 0}, 1000, 2000))
    assert evaluate(policy, idle, at(1100)).check(UTIL).remaining == pytest.approx(380)
    assert evaluate(policy, idle, at(1479)).verdict is None
    assert evaluate(policy, idle, at(1481)).verdict is not None


def test_and_needs_every_resource_below_or_needs_one() -> None:
    requested = frozenset({"cpu", "mem"})
    f = facts(requested=requested, samples=steady({"cpu": 1, "mem": 80}, 0, 400))
    assert evaluate(util({"cpu": 5, "mem": 20}, combine="and"), f, at(400)).verdict is None
    report = evaluate(util({"cpu": 5, "mem": 20}, combine="or"), f, at(400))
    assert report.verdict is not None and report.verdict.data["below"] == ["cpu"]
    assert report.verdict.data["resources"]["mem"] == {"average": 80.0, "threshold": 20}
    both_low = facts(requested=requested, samples=steady({"cpu": 1, "mem": 10}, 0, 400))
    report = evaluate(util({"cpu": 5, "mem": 20}, combine="and"), both_low, at(400))
    assert report.verdict is not None and report.verdict.data["below"] == ["cpu", "mem"]


def test_resources_not_requested_are_ignored() -> None:
    policy = util({"cpu": 5, "cuda.util": 5}, combine="and")
    f = facts(requested=frozenset({"cpu"}),
              samples=steady({"cpu": 1, "cuda.util": 90}, 0, 400))
    report = evaluate(policy, f, at(400))
    assert [u.resource for u in report.usage] == ["cpu"]
    assert report.verdict is not None
    nothing = evaluate(util({"cuda.util": 5}), f, at(400))
    assert nothing.check(UTIL).remaining is None and nothing.verdict is None


def test_resources_without_data_are_ignored_never_zero() -> None:
    requested = frozenset({"cpu", "cuda.util"})
    f = facts(requested=requested, samples=steady({"cpu": 1, "cuda.util": None}, 0, 400))
    report = evaluate(util({"cpu": 5, "cuda.util": 5}, combine="and"), f, at(400))
    gpu = usage_of(report, "cuda.util")
    assert gpu.coverage == "none" and gpu.average is None and gpu.level is None
    assert report.verdict is not None and report.verdict.data["below"] == ["cpu"]
    only_gpu = evaluate(util({"cuda.util": 5}, combine="or"), f, at(400))
    assert only_gpu.verdict is None
    cpu_missing = facts(requested=frozenset({"cpu"}), samples=steady({"mem": 0}, 0, 400))
    assert evaluate(util({"cpu": 5}), cpu_missing, at(400)).verdict is None


def test_a_gap_longer_than_three_sampling_intervals_is_no_data() -> None:
    policy = util({"cpu": 10}, window=300)
    samples = steady({"cpu": 0}, 0, 300) + steady({"cpu": 0}, 320, 1000)
    gap = facts(requested=frozenset({"cpu"}), samples=samples, sample_interval=5)
    report = evaluate(policy, gap, at(400))
    assert usage_of(report, "cpu").coverage == "partial"
    assert report.verdict is None
    assert usage_of(report, "cpu").covered == pytest.approx(295 / 300)
    assert evaluate(policy, gap, at(620)).verdict is not None  # the gap left the window
    tolerated = facts(requested=frozenset({"cpu"}), samples=samples, sample_interval=10)
    assert evaluate(policy, tolerated, at(400)).verdict is not None


def test_a_resource_that_stopped_reporting_holds_back_an_and_verdict_until_it_is_ignored(
) -> None:
    requested = frozenset({"cpu", "cuda.util"})
    samples = steady({"cpu": 0, "cuda.util": 90}, 0, 500) + steady({"cpu": 0}, 505, 2000)
    f = facts(requested=requested, samples=samples)
    policy = util({"cpu": 5, "cuda.util": 5}, window=300, combine="and")
    report = evaluate(policy, f, at(600))
    assert usage_of(report, "cuda.util").coverage == "partial" and report.verdict is None
    # Its last figure stood until 515 (3 intervals): ignored once that left the window.
    assert report.check(UTIL).remaining == pytest.approx(215)
    assert evaluate(policy, f, at(814)).verdict is None
    assert evaluate(policy, f, at(815)).verdict is not None


def test_average_is_time_weighted_over_irregular_samples() -> None:
    samples = [Sample(at(0), {"cpu": 100}), Sample(at(25), {"cpu": 0}),
               Sample(at(30), {"cpu": 0}), Sample(at(35), {"cpu": 0})]
    f = facts(requested=frozenset({"cpu"}), samples=samples, sample_interval=10)
    report = evaluate(util({"cpu": 50}, window=40), f, at(40))
    cpu = usage_of(report, "cpu")
    assert cpu.coverage == "full" and cpu.average == pytest.approx(62.5)
    assert report.verdict is None


def test_samples_after_now_and_their_order_do_not_matter() -> None:
    samples = steady({"cpu": 1}, 0, 400)
    f = facts(requested=frozenset({"cpu"}), samples=samples)
    shuffled = facts(requested=frozenset({"cpu"}),
                     samples=list(reversed(samples)) + [Sample(at(401), {"cpu": 100})])
    policy = util({"cpu": 5})
    assert evaluate(policy, f, at(400)) == evaluate(policy, shuffled, at(400))


@pytest.mark.parametrize(("average", "level"), [(8.0, "below"), (10.0, "near"),
                                                (11.9, "near"), (12.0, "ok"), (50.0, "ok")])
def test_levels_turn_near_then_below_as_use_falls_toward_the_threshold(
        average: float, level: str) -> None:
    f = facts(requested=frozenset({"cpu"}), samples=steady({"cpu": average}, 0, 400))
    report = evaluate(util({"cpu": 10}), f, at(400))
    assert usage_of(report, "cpu").level == level
    assert (report.verdict is not None) == (level == "below")


def test_no_samples_never_reclaim() -> None:
    f = facts(requested=frozenset({"cpu", "mem"}))
    for combine in ("and", "or"):
        report = evaluate(util({"cpu": 50, "mem": 50}, combine=combine), f, at(10**6))
        assert report.verdict is None
        assert report.check(UTIL).remaining == 300  # a full window of data is still needed


# ---- warnings and display ---------------------------------------------------------------------
def test_warning_is_due_within_warn_before_of_the_deadline() -> None:
    policy = IdlePolicy(max_lifetime=3600, network_timeout=7200, warn_before=600)
    assert evaluate(policy, facts(), at(2999)).warnings == ()
    report = evaluate(policy, facts(), at(3000))
    assert [c.check for c in report.warnings] == [LIFE]
    assert not evaluate(policy, facts(), at(3600)).check(LIFE).warn
    assert evaluate(IdlePolicy(max_lifetime=3600), facts(), at(3599)).warnings == ()


def test_utilization_warning_names_the_check() -> None:
    policy = util({"cpu": 10}, window=600, warn_before=300)
    f = facts(requested=frozenset({"cpu"}), samples=steady({"cpu": 0}, 0, 2000))
    assert [c.check for c in evaluate(policy, f, at(300)).warnings] == [UTIL]
    assert evaluate(policy, f, at(299)).warnings == ()


@pytest.mark.parametrize(("remaining", "colour"), [
    (None, None), (0, "red"), (3599.9, "red"), (3600, "orange"), (14399, "orange"),
    (14400, None), (10**6, None)])
def test_urgency_colours(remaining: float | None, colour: str | None) -> None:
    assert urgency(remaining) == colour


@pytest.mark.parametrize(("remaining", "text"), [
    (None, "-"), (0, REACHED_TEXT), (-30, REACHED_TEXT), (0.2, "1s"), (59, "59s"),
    (61, "1m 01s"), (3600 + 300, "1h 05m"), (2 * 86400 + 3 * 3600 + 59, "2d 03h")])
def test_format_remaining(remaining: float | None, text: str) -> None:
    assert format_remaining(remaining) == text


# ---- configuration ---------------------------------------------------------------------------
def test_policy_values_override_the_group_and_none_takes_the_groups() -> None:
    group = IdleSettings(max_lifetime=86400, idle_timeout=3600, grace_period=600,
                         thresholds={"cpu": 5, "mem": 10}, combine="or", warn_before=900)
    assert resolve(group) == IdlePolicy(
        max_lifetime=86400, network_timeout=3600, warn_before=900,
        utilization=UtilizationRule(600, 3600, {"cpu": 5, "mem": 10}, "or"))
    policy = IdleSettings(max_lifetime=0, idle_timeout=1800, thresholds={"cuda.util": 1})
    resolved = resolve(group, policy)
    assert resolved.max_lifetime is None  # 0: off, although the group sets one
    assert resolved.network_timeout == 1800 and resolved.warn_before == 900
    assert resolved.utilization == UtilizationRule(600, 1800, {"cuda.util": 1}, "or")


def test_utilization_window_and_what_turns_the_check_off() -> None:
    group = IdleSettings(idle_timeout=3600, thresholds={"cpu": 5})
    own_window = resolve(group, IdleSettings(utilization_window=900, idle_timeout=0))
    assert own_window.network_timeout is None
    assert own_window.utilization == UtilizationRule(0, 900, {"cpu": 5}, "and")
    assert resolve(group, IdleSettings(idle_timeout=0)).utilization is None
    assert resolve(group, IdleSettings(thresholds={})).utilization is None
    assert resolve(IdleSettings()) == IdlePolicy()


@pytest.mark.parametrize("build", [
    lambda: IdleSettings(idle_timeout=-1),
    lambda: IdleSettings(thresholds={"cpu": 0}),
    lambda: IdleSettings(combine="xor"),  # type: ignore[arg-type]
    lambda: IdlePolicy(max_lifetime=0),
    lambda: IdlePolicy(warn_before=-5),
    lambda: UtilizationRule(0, 0, {"cpu": 5}),
    lambda: UtilizationRule(-1, 60, {"cpu": 5}),
    lambda: UtilizationRule(0, 60, {"cpu": float("nan")}),
    lambda: facts(sample_interval=0),
])
def test_invalid_configuration_is_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


# ---- properties ------------------------------------------------------------------------------
RESOURCES = ("cpu", "mem", "gpu.util")
seconds = st.integers(0, 8000).map(float) | st.integers(0, 8_000_000).map(
    lambda ms: ms / 1000)


@st.composite
def policies(draw: st.DrawFn, with_time_checks: bool = True) -> IdlePolicy:
    rule = None
    if draw(st.integers(0, 3)):
        names = draw(st.sets(st.sampled_from(RESOURCES), min_size=1))
        rule = UtilizationRule(
            grace_period=draw(st.integers(0, 2000)),
            window=draw(st.integers(10, 600) | st.integers(10, 1200)),
            thresholds={n: draw(st.floats(0.5, 100)) for n in sorted(names)},
            combine=draw(st.sampled_from(["and", "or"])))
    timeout = st.none() | st.integers(1, 6000)
    return IdlePolicy(
        max_lifetime=draw(timeout) if with_time_checks else None,
        network_timeout=draw(timeout) if with_time_checks else None,
        utilization=rule, warn_before=draw(st.integers(0, 3000)))


@st.composite
def samples(draw: st.DrawFn, interval: float) -> list[Sample]:
    """Scattered samples with holes and missing figures, plus (mostly) a regular stretch
    whose step may exceed the gap limit, so full windows, gaps and verdicts all happen."""
    value = st.none() | st.floats(0, 100) | st.sampled_from([0.0, 1.0, 5.0, 50.0])
    out = []
    for _ in range(draw(st.integers(0, 20))):
        when = draw(seconds)
        out.append(Sample(at(when), {r: draw(value) for r in RESOURCES if draw(st.booleans())}))
    if draw(st.integers(0, 3)):
        start = draw(st.integers(0, 1000))
        step = draw(st.floats(1, 3.5 * interval))
        steady_level = draw(st.sampled_from([0.0, 1.0, 5.0, 50.0]))
        varying = draw(st.booleans())
        for i in range(draw(st.integers(1, 250) | st.integers(60, 250))):
            level = draw(value) if varying else steady_level
            names = RESOURCES if draw(st.integers(0, 9)) else ("cpu",)
            out.append(Sample(at(start + i * step), dict.fromkeys(names, level)))
    return out


@st.composite
def session_facts(draw: st.DrawFn) -> SessionFacts:
    interval = draw(st.sampled_from([10.0, 30.0, 60.0]))
    return facts(type=draw(st.sampled_from(list(SessionType))),
                 last_activity_at=draw(st.none() | seconds.map(at)),
                 requested=frozenset(draw(st.sets(st.sampled_from(RESOURCES), min_size=1))),
                 samples=draw(samples(interval)), sample_interval=interval)


@st.composite
def moments(draw: st.DrawFn, f: SessionFacts, count: int) -> list[float]:
    """``count`` ascending times, mostly where the samples are (or just past them)."""
    offsets = [(s.at - T0).total_seconds() for s in f.samples]
    out = []
    for _ in range(count):
        if offsets and draw(st.booleans()):
            low, high = min(offsets), max(offsets) + 4 * f.sample_interval
            out.append(round(draw(st.floats(low, high)), 3))
        else:
            out.append(draw(seconds))
    return sorted(out)


@st.composite
def cases(draw: st.DrawFn, count: int = 2, with_time_checks: bool = True
          ) -> tuple[IdlePolicy, SessionFacts, list[float]]:
    f = draw(session_facts())
    return draw(policies(with_time_checks)), f, draw(moments(f, count))


def deadline(report: IdleReport, check: IdleCheck, now: float) -> float | None:
    remaining = report.check(check).remaining
    return None if remaining is None else now + remaining


def with_samples(f: SessionFacts, new: list[Sample]) -> SessionFacts:
    return SessionFacts(f.type, f.started_at, f.last_activity_at, f.requested, new,
                        f.sample_interval)


@given(cases(count=1))
def test_same_stored_facts_and_time_give_the_same_report(
        case: tuple[IdlePolicy, SessionFacts, list[float]]) -> None:
    policy, f, (now,) = case
    report = evaluate(policy, f, at(now))
    reloaded = SessionFacts(f.type, f.started_at, f.last_activity_at, frozenset(f.requested),
                            [Sample(s.at, dict(s.values)) for s in f.samples],
                            f.sample_interval)
    assert evaluate(policy, reloaded, at(now)) == report
    for state in report.checks:
        assert state.remaining is None or state.remaining >= 0
        assert state.reached == (state.remaining == 0)
        assert not state.warn or 0 < state.remaining <= policy.warn_before  # type: ignore[operator]
    if report.verdict is not None:
        assert report.check(report.verdict.check).reached


@given(cases())
def test_lifetime_and_network_count_down_exactly_with_time(
        case: tuple[IdlePolicy, SessionFacts, list[float]]) -> None:
    policy, f, (first, second) = case
    r1, r2 = evaluate(policy, f, at(first)), evaluate(policy, f, at(second))
    for check in (LIFE, NET):
        one, two = r1.check(check).remaining, r2.check(check).remaining
        assert (one is None) == (two is None)
        if one is not None and two is not None:
            assert two == pytest.approx(max(0.0, one - (second - first)), abs=EPS)


@settings(max_examples=300)
@given(cases())
def test_deadlines_never_move_earlier_and_nothing_is_reclaimed_before_one(
        case: tuple[IdlePolicy, SessionFacts, list[float]]) -> None:
    """Samples after ``first`` are what arrived in between: the same stored facts, later."""
    policy, f, (first, second) = case
    r1, r2 = evaluate(policy, f, at(first)), evaluate(policy, f, at(second))
    for check in IdleCheck:
        d1, d2 = deadline(r1, check, first), deadline(r2, check, second)
        assert (d1 is None) == (d2 is None)
        if d1 is not None and d2 is not None:
            assert d2 >= d1 - EPS
    if r2.verdict is not None:
        d1 = deadline(r1, r2.verdict.check, first)
        assert d1 is not None and second >= d1 - EPS


@given(cases(), seconds)
def test_more_recent_activity_never_brings_the_network_verdict_earlier(
        case: tuple[IdlePolicy, SessionFacts, list[float]], later: float) -> None:
    policy, f, (_, now) = case
    base = f.last_activity_at or T0
    busier = SessionFacts(f.type, f.started_at, max(base, at(later)), f.requested, f.samples,
                          f.sample_interval)
    before, after = evaluate(policy, f, at(now)), evaluate(policy, busier, at(now))
    if after.verdict is not None and after.verdict.check == NET:
        assert before.verdict is not None and before.verdict.check in (LIFE, NET)
    d_before, d_after = deadline(before, NET, now), deadline(after, NET, now)
    if d_before is not None and d_after is not None:
        assert d_after >= d_before


@settings(max_examples=300)
@given(cases(count=1, with_time_checks=False), st.data())
def test_raising_a_figure_never_turns_no_verdict_into_a_utilization_verdict(
        case: tuple[IdlePolicy, SessionFacts, list[float]], data: st.DataObject) -> None:
    policy, f, (now,) = case
    figures = [(i, r) for i, s in enumerate(f.samples) for r, v in s.values.items()
               if v is not None]
    if not figures:
        return
    i, resource = data.draw(st.sampled_from(figures))
    raised = list(f.samples)
    values = dict(raised[i].values)
    values[resource] = values[resource] + data.draw(st.floats(0.001, 200))  # type: ignore[operator]
    raised[i] = Sample(raised[i].at, values)
    if evaluate(policy, f, at(now)).verdict is None:
        assert evaluate(policy, with_samples(f, raised), at(now)).verdict is None


@given(cases(count=1, with_time_checks=False))
def test_no_data_never_reclaims(case: tuple[IdlePolicy, SessionFacts, list[float]]) -> None:
    policy, f, (now,) = case
    blank = [Sample(s.at, dict.fromkeys(s.values)) for s in f.samples]
    for empty in ([], blank):
        report = evaluate(policy, with_samples(f, empty), at(now))
        assert report.verdict is None
        assert all(u.coverage == "none" for u in report.usage)
        remaining = report.check(UTIL).remaining
        if remaining is not None and policy.utilization is not None:
            assert remaining >= policy.utilization.window - EPS
