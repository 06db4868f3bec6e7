"""The agent's live-usage loop: every ``usage_interval`` seconds it samples all the node's
running kernels with one :class:`~berth.agent.usage.UsageTracker` round (cgroup and network
counters, plus the accelerator plugins' figures) and sends the round to the manager in one
request (``POST /api/agent/v1/usage``, :class:`berth.rpc.UsageReport`).

Bounded work: one tracker round and one request per interval whatever the number of kernels,
no task per kernel. Kernels that are no longer running are forgotten by the tracker (their
descriptors closed) before the round.

What a round sends per kernel: the samples taken since the newest one the manager
acknowledged (normally just this round's; after a failed send, what the window still holds
of the rounds in between), always at least the newest; the whole window (oldest first) for
the kernels the manager asked for in its previous reply (:class:`berth.rpc.UsageReply`:
it did not know them, e.g. after a manager restart). The manager ignores samples it holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from berth.agent.accelerators.base import KernelStats
from berth.agent.devices import Accelerators
from berth.agent.usage import UsageTracker
from berth.agent.usage_parse import Sample
from berth.rpc import KernelSample, UsageReply, UsageReport

log = logging.getLogger(__name__)

#: kernel id -> its container's id or name, for the kernels running now.
KernelSource = Callable[[], Mapping[str, str]]
Send = Callable[[UsageReport], Awaitable[UsageReply]]


def running_kernels(node: Any) -> dict[str, str]:
    """The kernels of a :class:`berth.agent.node.Node` whose containers run (watched and
    neither being created nor destroyed), each with its container's name; read from the
    node's memory, no engine call."""
    name = node.backend.container_name
    busy = set(node.creating) | set(node.destroying)
    return {kernel_id: name(kernel_id) for kernel_id in list(node.tasks)
            if kernel_id not in busy}


def to_wire(sample: Sample) -> KernelSample:
    return KernelSample(**dataclasses.asdict(sample))


class UsageLoop:
    """Samples ``kernels()`` with ``tracker`` and hands each round to ``send``.

    ``accelerators``: the agent's plugins, for ``accel_*`` (None: no figures). Errors of a
    round (the manager down, an engine error) are logged and the loop goes on; the next
    successful send carries what the window kept of the rounds that failed."""

    def __init__(self, agent_id: str, tracker: UsageTracker, kernels: KernelSource, send: Send,
                 interval: float, accelerators: Accelerators | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.agent_id = agent_id
        self.tracker = tracker
        self.kernels = kernels
        self.send = send
        self.interval = interval
        self.accelerators = accelerators
        self._clock = clock
        #: Wall time of the newest sample the manager acknowledged.
        self._sent_until = float("-inf")
        #: Kernels whose whole window the manager asked for.
        self._resend: set[str] = set()
        self.rounds = 0

    async def sample(self) -> UsageReport:
        """One sampling round: forget the kernels gone, sample the running ones, and the
        report to send (not sent)."""
        current = dict(self.kernels())
        for gone in set(self.tracker.kernels()) - set(current):
            self.tracker.forget(gone)
        use = await self.accelerators.kernel_usage() if self.accelerators else {}
        stats: dict[str, KernelStats] = {k: u.stats for k, u in use.items()
                                         if k in current and u.stats is not None}
        await self.tracker.sample_all(current, stats)
        kernels: dict[str, list[KernelSample]] = {}
        for kernel_id in current:
            window = self.tracker.window(kernel_id)
            if not window:
                continue
            if kernel_id not in self._resend:
                window = [s for s in window if s.at > self._sent_until] or window[-1:]
            limit = use[kernel_id].mem_limit if kernel_id in use else None
            kernels[kernel_id] = [to_wire(dataclasses.replace(s, accel_mem_limit=limit)
                                          if limit else s) for s in window]
        return UsageReport(agent_id=self.agent_id, interval=self.interval, kernels=kernels)

    async def round(self) -> None:
        """Sample and send; remembers what the manager acknowledged and asked again."""
        report = await self.sample()
        self.rounds += 1
        if not report.kernels:
            return
        reply = await self.send(report)
        newest = max(s.at for samples in report.kernels.values() for s in samples)
        self._sent_until = max(self._sent_until, newest)
        self._resend = set(reply.resend) & set(report.kernels)

    async def run(self) -> None:
        """Rounds every ``interval`` seconds (from the start of one to the next) until
        cancelled."""
        while True:
            started = self._clock()
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the loop must survive the manager's restarts
                log.warning("usage report failed: %s", e)
            await asyncio.sleep(max(0.0, self.interval - (self._clock() - started)))


def http_sender(client: httpx.AsyncClient) -> Send:
    """A :data:`Send` posting to the manager's ``/api/agent/v1/usage`` through ``client``
    (raises httpx errors and pydantic's for a reply that is not a :class:`UsageReply`)."""

    async def send(report: UsageReport) -> UsageReply:
        r = await client.post("/api/agent/v1/usage",
                              content=report.model_dump_json(exclude_none=True))
        r.raise_for_status()
        return UsageReply.model_validate_json(r.content)

    return send


def start_usage_loop(agent_id: str, node: Any, client: httpx.AsyncClient, interval: float,
                     make_tracker: Callable[[], UsageTracker] | None = None
                     ) -> tuple[asyncio.Task[None], UsageTracker] | None:
    """Start the loop for ``node``'s kernels; None (logged once) where usage cannot be read:
    a backend without containers on this host (the fake one) or no cgroup hierarchy.
    ``make_tracker`` replaces the host's tracker (tests)."""
    from berth.agent.usage import docker_inspector
    from berth.agent.usage_parse import UsageUnavailable

    docker = getattr(node.backend, "docker", None)
    if make_tracker is None and docker is None:
        log.info("live usage: the %s backend has no containers to read; no usage is "
                 "reported", type(node.backend).__name__)
        return None
    try:
        tracker = make_tracker() if make_tracker else UsageTracker(docker_inspector(docker))
    except UsageUnavailable as e:
        log.warning("live usage: not available on this node, none is reported: %s", e)
        return None
    loop = UsageLoop(agent_id, tracker, lambda: running_kernels(node), http_sender(client),
                     interval, node.devices)
    return asyncio.create_task(loop.run()), tracker
