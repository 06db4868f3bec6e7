"""The manager's side of the idle checks without a server: the traffic tracker, the settings'
merge, and the loop's pure decisions (what to reclaim, whom to warn, when to look again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth.domain import idle
from berth.domain.status import SessionType
from berth.manager.services import idle as loop
from berth.manager.services.activity import Activity

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# ---- the tracker ------------------------------------------------------------------------
def test_touch_keeps_the_latest_and_take_hands_out_changes_once() -> None:
    clock = Clock()
    a = Activity(clock)
    a.touch("s1")
    a.touch("s1", T0 - timedelta(seconds=5))  # older: ignored
    assert a.last("s1") == T0 and a.last("s2") is None
    assert a.take() == {"s1": T0}
    a.done(stored=True)
    assert a.take() == {} and a.last("s1") is None  # the database has it now


def test_a_failed_flush_keeps_the_times_for_the_next() -> None:
    clock = Clock()
    a = Activity(clock)
    a.touch("s1")
    assert a.take() == {"s1": T0}
    a.done(stored=False)
    clock.tick(3)
    a.touch("s2")
    assert a.last("s1") == T0  # still known while not stored
    assert a.take() == {"s1": T0, "s2": T0 + timedelta(seconds=3)}


def test_held_sessions_count_as_traffic_now_while_open() -> None:
    clock = Clock()
    a = Activity(clock)
    with a.hold("s1"), a.hold("s1"):  # two streams
        clock.tick(100)
        assert a.last("s1") == clock.now
        assert a.take() == {"s1": clock.now}
        a.done(stored=True)
    clock.tick(50)
    assert a.last("s1") == T0 + timedelta(seconds=100)  # the moment the last one closed


def test_proxy_times_are_taken_when_new_only() -> None:
    a = Activity(Clock())
    traffic = {"s1": T0.timestamp()}
    a.absorb_proxy(traffic)
    assert a.take() == {"s1": T0}
    a.done(stored=True)
    a.absorb_proxy(traffic)  # unchanged: nothing to store
    assert a.take() == {}
    traffic["s1"] += 2
    a.absorb_proxy(traffic)
    assert a.take() == {"s1": T0 + timedelta(seconds=2)}


# ---- settings ---------------------------------------------------------------------------
def test_policy_settings_override_the_group_field_by_field() -> None:
    config = loop.Config(
        groups={"g": loop.settings_of({"idle_timeout": 600, "max_session_lifetime": 3600,
                                       "warn_before": 60})},
        policies={"user": loop.settings_of({"idle_timeout": 0}),  # turns it off
                  "project": loop.settings_of({"idle_timeout": 30, "warn_before": 10,
                                               "utilization_thresholds": {"cpu": 5}})})
    p = config.policy("g", "user", "project")
    assert p.network_timeout is None and p.max_lifetime == 3600 and p.warn_before == 10
    assert p.utilization is None  # no window: the idle timeout is off for this user
    assert config.policy("g", None, "project").utilization is not None
    assert config.scope() == (["g"], ["project"])


def test_a_stored_value_the_domain_refuses_is_ignored() -> None:
    s = loop.settings_of({"idle_timeout": -5, "utilization_combine": "xor",
                          "utilization_thresholds": {"cpu": 5}})
    assert s == idle.IdleSettings(thresholds={"cpu": 5})


# ---- deciding ---------------------------------------------------------------------------
def _loaded(policy: idle.IdlePolicy, warned: dict[str, str] | None = None,
            sid: str = "s1") -> loop.Loaded:
    return loop.Loaded(sid, "name", "o", "o", SessionType.INTERACTIVE, T0, None, {"cpu": "1"},
                       warned or {}, policy)


def _decide(s: loop.Loaded, now: datetime) -> loop.Decision:
    facts = idle.SessionFacts(type=s.type, started_at=s.started_at)
    return loop.decide([(s, facts, idle.evaluate(s.policy, facts, now))], now)


def test_decide_reclaims_at_the_deadline_and_wakes_for_it_before() -> None:
    s = _loaded(idle.IdlePolicy(network_timeout=60))
    early = _decide(s, T0 + timedelta(seconds=30))
    assert not early.reclaim and early.due["s1"] == T0 + timedelta(seconds=60) + loop.WAKE_SLACK
    late = _decide(s, T0 + timedelta(seconds=60))
    [(_, _, verdict)] = late.reclaim
    assert verdict.status_info == "idle-timeout" and not late.due


def test_decide_warns_once_per_deadline() -> None:
    policy = idle.IdlePolicy(max_lifetime=100, warn_before=20)
    before = _decide(_loaded(policy), T0 + timedelta(seconds=50))
    assert not before.warn and before.due["s1"] == T0 + timedelta(seconds=80) + loop.WAKE_SLACK
    now = T0 + timedelta(seconds=85)
    [(_, state)] = _decide(_loaded(policy), now).warn
    assert state.check is idle.IdleCheck.SESSION_LIFETIME and state.remaining == 15
    sent = {"session-lifetime": (T0 + timedelta(seconds=100)).isoformat()}
    assert not _decide(_loaded(policy, sent), now).warn  # after a restart too


def test_a_new_deadline_warns_again_a_drifting_one_does_not() -> None:
    state = idle.CheckState(idle.IdleCheck.NETWORK_TIMEOUT, 5.0, T0, warn=True)
    sent = {"network-timeout": (T0 - timedelta(seconds=3)).isoformat()}
    assert not loop.warn_due(sent, state, warn_before=10)
    moved = {"network-timeout": (T0 - timedelta(seconds=30)).isoformat()}
    assert loop.warn_due(moved, state, warn_before=10)
    assert not loop.warn_due({}, idle.CheckState(idle.IdleCheck.NETWORK_TIMEOUT, 50.0, T0),
                             warn_before=10)


# ---- the admin CLI's options --------------------------------------------------------------
def test_cli_idle_options_become_api_fields() -> None:
    import pytest
    import typer

    from berth.cli.idle_options import idle_fields

    assert idle_fields("8h", "30m", None, "0", "cpu=5, mem=10.5", "OR", "10m") == {
        "max_session_lifetime": 8 * 3600, "idle_timeout": 1800, "grace_period": 0,
        "utilization_thresholds": {"cpu": 5.0, "mem": 10.5}, "utilization_combine": "or",
        "warn_before": 600}
    assert idle_fields(None, None, None, None, "off", None, None) == {
        "utilization_thresholds": {}}
    for bad in (("gpu=5", "--utilization"), ("cpu", "--utilization")):
        with pytest.raises(typer.BadParameter) as e:
            idle_fields(None, None, None, None, bad[0], None, None)
        assert bad[1] in str(e.value.param_hint or e.value)
    with pytest.raises(typer.BadParameter):
        idle_fields(None, "soon", None, None, None, None, None)
