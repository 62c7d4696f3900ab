"""A running data task in memory: its progress for followers, and the bounded worker pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Progress:
    """How far a task got: items done of total, and how many answers failed validation."""

    done: int
    total: int
    invalid: int = 0

    def to_dict(self) -> dict[str, Any]:
        """As stored in `data_tasks.progress_json`."""
        return asdict(self)


class LiveTask:
    """Progress of a running task; a follower awaits `tick` (replaced at every change)."""

    def __init__(self, total: int) -> None:
        self.progress = Progress(0, total)
        self.tick = asyncio.Event()
        self.ended = asyncio.Event()

    def advance(self, invalid: bool = False) -> None:
        """One more item done (its answer failed validation when `invalid`)."""
        p = self.progress
        self.progress = replace(p, done=p.done + 1, invalid=p.invalid + int(invalid))
        self._bump()

    def end(self) -> None:
        """The task is over (its outcome is stored)."""
        self.ended.set()
        self._bump()

    def _bump(self) -> None:
        # Each follower holds the event that was current when it looked; setting it and
        # handing out a fresh one wakes every follower exactly once per change.
        tick, self.tick = self.tick, asyncio.Event()
        tick.set()


async def run_bounded(count: int, work: Callable[[int], Awaitable[None]], concurrency: int) -> None:
    """`work(i)` for every i < count, at most `concurrency` at once.

    A fixed set of workers pulls indexes, so a huge dataset never becomes a huge number of
    tasks. The first error stops the other workers and is raised as is.
    """
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:  # shared: each index is taken by exactly one worker
            await work(index)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, count)):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
