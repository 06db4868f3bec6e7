"""Small asyncio helpers shared by the manager and the agent."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_first_done(*coros: Coroutine[Any, Any, Any]) -> None:
    """Run ``coros`` together until one of them ends (returns or raises), then cancel the
    others and wait for them. Exceptions are swallowed: for two-way relays, where either side
    ending is the normal way to stop."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
