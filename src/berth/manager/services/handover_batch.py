"""How the hand-over groups sessions into batches: one agent's sessions, at most
:data:`~berth.rpc.MAX_KERNELS_PER_BATCH` kernels in all, a session's kernels never split.
Pure (no I/O, no clock): the queue the manager's senders work (:class:`SendQueue`) and the
regrouping of what was read (:func:`split`). :mod:`.handover` does the reading and sending."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from berth.rpc import MAX_KERNELS_PER_BATCH

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True)
class Handover:
    """A session waiting to be handed to its agent: ``agent_id`` is where the scheduler
    placed it (None: not known when it was queued), ``kernels`` how many kernels it has.
    Both only group the queue; the session's row decides when it is sent."""

    session_id: str
    agent_id: str | None = None
    kernels: int = 1


class SendQueue:
    """Sessions waiting for the hand-over, one line per agent, each in arrival order.

    :meth:`take` gives the next batch: sessions of one agent, in arrival order, as many as
    fit in ``limit`` kernels (always at least one). Agents take turns: an agent with more
    waiting goes to the back of the line, so one agent's burst does not hold up another's
    sessions for longer than a batch."""

    def __init__(self, limit: int = MAX_KERNELS_PER_BATCH) -> None:
        self.limit = limit
        self._lines: dict[str | None, deque[Handover]] = {}  # insertion order = turns
        self._kernels: dict[str | None, int] = {}

    def put(self, item: Handover) -> None:
        self._lines.setdefault(item.agent_id, deque()).append(item)
        self._kernels[item.agent_id] = self._kernels.get(item.agent_id, 0) + item.kernels

    def take(self) -> list[Handover]:
        """The next batch (empty when nothing waits)."""
        if not self._lines:
            return []
        agent = next(iter(self._lines))
        line = self._lines.pop(agent)
        batch = [line.popleft()]
        kernels = batch[0].kernels
        while line and kernels + line[0].kernels <= self.limit:
            kernels += line[0].kernels
            batch.append(line.popleft())
        if line:
            self._lines[agent] = line  # to the back of the line
            self._kernels[agent] -= kernels
        else:
            del self._kernels[agent]
        return batch

    def batches(self) -> int:
        """About how many batches wait (at least one per agent with sessions waiting): how
        many senders could work at once."""
        return sum(-(-kernels // self.limit) for kernels in self._kernels.values())

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())


def split(items: Iterable[tuple[K, T, int]], limit: int = MAX_KERNELS_PER_BATCH
          ) -> list[tuple[K, list[T]]]:
    """Group ``(key, item, weight)`` by key (in order of first appearance) and cut each group,
    keeping order, into runs of total weight at most ``limit``; an item heavier than ``limit``
    is a run of its own. The hand-over groups the sessions it read by their agent with
    their kernel counts as weights: a run is one request."""
    groups: dict[K, list[tuple[T, int]]] = {}
    for key, item, weight in items:
        groups.setdefault(key, []).append((item, weight))
    runs: list[tuple[K, list[T]]] = []
    for key, members in groups.items():
        run: list[T] = []
        total = 0
        for item, weight in members:
            if run and total + weight > limit:
                runs.append((key, run))
                run, total = [], 0
            run.append(item)
            total += weight
        runs.append((key, run))
    return runs
