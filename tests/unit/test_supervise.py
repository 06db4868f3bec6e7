"""The restart policy of ``berth up`` (pure: no processes, no clock)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from berth.cli.supervise import Backoff, Supervisor, describe_exit, next_delay, supervise

POLICY = Backoff(first=1, factor=2, most=30, stable=60)


def test_first_delay_is_first() -> None:
    assert next_delay(None, 0.1, POLICY) == 1


def test_delay_doubles_while_crash_looping_up_to_most() -> None:
    delays, previous = [], None
    for _ in range(8):
        previous = next_delay(previous, 0.5, POLICY)
        delays.append(previous)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_stable_run_resets_the_delay() -> None:
    assert next_delay(16, 59.9, POLICY) == 30
    assert next_delay(16, 60, POLICY) == 1


def test_describe_exit() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(-signal.SIGKILL) == "signal SIGKILL"


def test_children_are_independent() -> None:
    sup = Supervisor(["manager", "agent"], POLICY)
    sup.started("manager", 0)
    sup.started("agent", 0)
    assert sup.exited("agent", 1) == 1
    assert sup.due(1.5) == []
    assert sup.due(2) == ["agent"]
    sup.started("agent", 2)
    assert sup.exited("agent", 3) == 2  # crash-looping: doubled
    assert sup.exited("manager", 100) == 1  # the manager's own history
    assert sup.due(5) == ["agent"]
    assert sup.due(101) == ["manager", "agent"]


def test_restart_after_stable_run_is_quick_again() -> None:
    sup = Supervisor(["agent"], POLICY)
    sup.started("agent", 0)
    for t in range(5):  # five quick crashes: 1, 2, 4, 8, 16
        delay = sup.exited("agent", t * 100 + 1)
        sup.started("agent", t * 100 + 1 + delay)
    assert sup.exited("agent", 10_000) == 1


@dataclass
class FakeProc:
    pid: int
    code: int | None = None

    def poll(self) -> int | None:
        return self.code


class FakeWorld:
    """A clock that the loop's sleep advances, and a script of events at given times."""

    def __init__(self, script: dict[float, object], end: float) -> None:
        self.now = 0.0
        self.script = script
        self.end = end
        self.spawned: list[tuple[float, str]] = []
        self.lines: list[str] = []
        self.pids = iter(range(100, 200))
        self.procs: dict[str, FakeProc] = {"manager": FakeProc(1), "agent": FakeProc(2)}

    def spawn(self, name: str) -> FakeProc:
        self.spawned.append((self.now, name))
        return FakeProc(next(self.pids))

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for at in sorted(self.script):
            if at <= self.now:
                action = self.script.pop(at)
                assert callable(action)
                action()


def test_loop_restarts_only_the_child_that_died_with_backoff() -> None:
    world = FakeWorld({}, end=20)
    procs = world.procs

    def kill_agent() -> None:
        procs["agent"].code = -signal.SIGKILL

    world.script = {3.0: kill_agent}
    supervise(world.spawn, procs, lambda: world.now >= world.end,  # type: ignore[arg-type]
              world.lines.append, POLICY, clock=lambda: world.now, sleep=world.sleep,
              interval=0.5)
    assert world.spawned == [(4.0, "agent")]  # found at 3.0, restarted 1 s later
    assert procs["manager"].pid == 1  # untouched
    assert procs["agent"].pid == 100
    assert world.lines[0] == "the agent (pid 2) stopped with signal SIGKILL; restarting it in 1 s"
    assert world.lines[1] == "restarted the agent (pid 100, restart 1)"


def test_loop_backs_off_a_crash_looping_child() -> None:
    world = FakeWorld({}, end=40)

    def spawn_failing(name: str) -> FakeProc:
        world.spawned.append((world.now, name))
        return FakeProc(next(world.pids), code=1)  # exits at once

    world.procs["manager"].code = 1
    supervise(spawn_failing, world.procs, lambda: world.now >= world.end,  # type: ignore[arg-type]
              world.lines.append, POLICY, clock=lambda: world.now, sleep=world.sleep,
              interval=0.5)
    # Found at 0 -> 1; found at 1.5 (next poll) -> 3.5; 4 -> 8; 8.5 -> 16.5; 17 -> 33
    assert [at for at, _ in world.spawned] == [1.0, 3.5, 8.0, 16.5, 33.0]
    assert {name for _, name in world.spawned} == {"manager"}


def test_loop_restarts_nothing_once_stopping() -> None:
    world = FakeWorld({}, end=0)
    world.procs["agent"].code = 0
    supervise(world.spawn, world.procs, lambda: True,  # type: ignore[arg-type]
              world.lines.append, POLICY, clock=lambda: world.now, sleep=world.sleep)
    assert world.spawned == [] and world.lines == []


@pytest.mark.parametrize("code", [0, 1, -signal.SIGTERM])
def test_any_exit_is_restarted(code: int) -> None:
    world = FakeWorld({}, end=5)
    world.procs["agent"].code = code
    supervise(world.spawn, world.procs, lambda: world.now >= world.end,  # type: ignore[arg-type]
              world.lines.append, POLICY, clock=lambda: world.now, sleep=world.sleep)
    assert [name for _, name in world.spawned] == ["agent"]
