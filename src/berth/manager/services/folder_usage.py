"""Folder sizes, measured in the background and cached.

Measuring walks a folder (``st_blocks`` of every entry, bounded by ``max_entries``), which
for a big folder takes far longer than a request should. Lists show what is cached and ask
for a fresh figure when it is older than ``stale_after``; one worker measures one folder at
a time from a bounded queue (a full queue drops the wish: the next list asks again). The
figures live in this process only: a restart measures again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from berth.storage.fs import FolderFS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    complete: bool
    measured_at: datetime
    monotonic: float


class UsageCache:
    def __init__(self, stale_after: float = 60.0, max_queue: int = 1000,
                 max_entries: int = 1_000_000, max_cached: int = 100_000) -> None:
        self.stale_after = stale_after
        self.max_queue = max_queue
        self.max_entries = max_entries
        self.max_cached = max_cached
        self._cache: OrderedDict[str, Usage] = OrderedDict()
        self._queue: OrderedDict[str, Path] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None

    def get(self, folder_id: str) -> Usage | None:
        return self._cache.get(folder_id)

    def want(self, folder_id: str, directory: Path) -> None:
        """Measure ``folder_id`` soon unless a fresh figure is cached or it is queued."""
        cached = self._cache.get(folder_id)
        if cached and time.monotonic() - cached.monotonic < self.stale_after:
            return
        if folder_id in self._queue or len(self._queue) >= self.max_queue:
            return
        self._queue[folder_id] = directory
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())

    def forget(self, folder_id: str) -> None:
        self._cache.pop(folder_id, None)
        self._queue.pop(folder_id, None)

    async def _drain(self) -> None:
        while self._queue:
            folder_id, directory = self._queue.popitem(last=False)
            try:
                size, files, complete = await asyncio.to_thread(
                    FolderFS(directory).usage, self.max_entries)
            except OSError as e:
                log.warning("cannot measure folder %s: %s", folder_id, e)
                continue
            self._cache[folder_id] = Usage(size, files, complete, datetime.now(UTC),
                                           time.monotonic())
            self._cache.move_to_end(folder_id)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)

    async def wait_idle(self) -> None:
        """Until the queue is empty (tests, shutdown)."""
        if self._worker is not None:
            await self._worker
