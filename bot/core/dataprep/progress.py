"""A running data task in memory: its progress, and the events its followers wait on."""

from __future__ import annotations

import asyncio
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
