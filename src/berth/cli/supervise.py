"""How ``berth up`` keeps its manager and agent running.

The policy is pure (:func:`next_delay`, :class:`Supervisor`: no processes, no clock; the time
is passed in), and :func:`supervise` is the thin loop that applies it to real processes. A
child that exits, for whatever reason, is started again after a delay that starts at
``first`` seconds and doubles up to ``most``; a child that had run ``stable`` seconds or more
before it exited starts again after ``first`` (it was not crash-looping). Each child is
watched on its own, so the other keeps serving meanwhile.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Backoff:
    """Seconds: the first delay, the factor between delays, the longest delay, and how long
    a child must have run for the next delay to start from ``first`` again."""

    first: float = 1.0
    factor: float = 2.0
    most: float = 30.0
    stable: float = 60.0


def next_delay(previous: float | None, ran_for: float, policy: Backoff) -> float:
    """The delay before restarting a child that exited after ``ran_for`` seconds, when the
    delay before its current run was ``previous`` (None: it was never restarted)."""
    if previous is None or ran_for >= policy.stable:
        return policy.first
    return min(previous * policy.factor, policy.most)


def describe_exit(returncode: int) -> str:
    """'exit code 3' or 'signal SIGKILL' (Popen gives -N for death by signal N)."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class _Child:
    started_at: float | None = None  # None while it waits to be restarted
    restart_at: float | None = None
    delay: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    """What to restart when. Every method takes the current time; nothing here waits."""

    names: Iterable[str]
    policy: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        self.children = {name: _Child() for name in self.names}

    def started(self, name: str, now: float) -> None:
        """``name`` was (re)started at ``now``."""
        child = self.children[name]
        child.started_at, child.restart_at = now, None

    def exited(self, name: str, now: float) -> float:
        """``name`` was found exited at ``now``; returns the delay until its restart."""
        child = self.children[name]
        ran_for = now - (child.started_at if child.started_at is not None else now)
        child.delay = next_delay(child.delay, ran_for, self.policy)
        child.started_at, child.restart_at = None, now + child.delay
        child.restarts += 1
        return child.delay

    def due(self, now: float) -> list[str]:
        """Children whose restart time has come, in the order they were named."""
        return [name for name, c in self.children.items()
                if c.restart_at is not None and c.restart_at <= now]


class Process(Protocol):
    """What the loop needs of a child (``subprocess.Popen`` has it)."""

    pid: int

    def poll(self) -> int | None: ...


def supervise(spawn: Callable[[str], Process], procs: dict[str, Process],
              stopping: Callable[[], bool], log: Callable[[str], None],
              policy: Backoff | None = None, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep, interval: float = 0.5) -> None:
    """Watch the already started ``procs`` (name -> process; updated in place with the
    restarted ones) until ``stopping()``: restart each that exits per :class:`Supervisor`
    with ``spawn(name)``, and ``log`` what happens. Returns without stopping anything."""
    sup = Supervisor(list(procs), policy or Backoff())
    now = clock()
    for name in procs:
        sup.started(name, now)
    waiting: set[str] = set()
    while not stopping():
        now = clock()
        for name, proc in procs.items():
            code = proc.poll()
            if name not in waiting and code is not None:
                delay = sup.exited(name, now)
                waiting.add(name)
                log(f"the {name} (pid {proc.pid}) stopped with {describe_exit(code)}; "
                    f"restarting it in {delay:g} s")
        for name in sup.due(now):
            if stopping():
                return
            procs[name] = spawn(name)
            sup.started(name, clock())
            waiting.discard(name)
            log(f"restarted the {name} (pid {procs[name].pid}, "
                f"restart {sup.children[name].restarts})")
        sleep(interval)
