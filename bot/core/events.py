"""Event fan-out: record a job event once, deliver it to every subscriber.

Each subscriber has its own bounded queue, so a slow one never blocks the others or
the publisher. A subscriber that falls too far behind is marked `lagged` and catches up
from storage (events are numbered per job, so nothing is lost, only re-read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bot.logs import get_logger
from storage.jobs import EventRepo, EventRow

log = get_logger(__name__)

GlobalListener = Callable[[str, EventRow], Awaitable[None]]


class Subscription:
    """A live feed of one job's events (or every job's, when `job_id` is None)."""

    def __init__(self, bus: EventBus, job_id: str | None, maxsize: int) -> None:
        self.bus = bus
        self.job_id = job_id
        self.queue: asyncio.Queue[EventRow] = asyncio.Queue(maxsize)
        self.lagged = False

    def offer(self, row: EventRow) -> None:
        """Deliver without waiting; on overflow mark the subscriber lagged instead."""
        if self.lagged:
            return
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.lagged = True

    async def get(self) -> EventRow:
        """The next event (raises `Lagged` when the caller must re-read storage)."""
        if self.lagged and self.queue.empty():
            raise Lagged
        return await self.queue.get()

    def close(self) -> None:
        """Stop receiving."""
        self.bus.unsubscribe(self)


class Lagged(Exception):
    """The subscriber missed events and must catch up from storage."""


class EventBus:
    """Stores job events and fans them out to subscribers and global listeners."""

    def __init__(self, events: EventRepo, queue_size: int = 1000) -> None:
        self.events = events
        self.queue_size = queue_size
        self._subs: dict[str | None, set[Subscription]] = {}
        self._listeners: list[GlobalListener] = []
        self._listener_tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, job_id: str | None) -> Subscription:
        """Start receiving new events of a job (None: all jobs)."""
        sub = Subscription(self, job_id, self.queue_size)
        self._subs.setdefault(job_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription (idempotent)."""
        self._subs.get(sub.job_id, set()).discard(sub)

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions (exported as a metric)."""
        return sum(len(s) for s in self._subs.values())

    def add_listener(self, listener: GlobalListener) -> None:
        """Call `listener(job_id, event)` for every event; it runs in its own task."""
        self._listeners.append(listener)

    async def publish(self, job_id: str, event: str, data: dict[str, Any]) -> EventRow:
        """Record the event, then deliver it; returns the stored row with its seq."""
        row = await self.events.append(job_id, event, data)
        for sub in (*self._subs.get(job_id, ()), *self._subs.get(None, ())):
            sub.offer(row)
        for listener in self._listeners:
            task = asyncio.create_task(self._call(listener, job_id, row))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)
        return row

    async def _call(self, listener: GlobalListener, job_id: str, row: EventRow) -> None:
        try:
            await listener(job_id, row)
        except Exception:
            log.exception("event listener failed", job_id=job_id, seq=row.seq)

    async def follow(
        self, job_id: str, after: int, is_final: Callable[[EventRow], bool]
    ) -> AsyncIterator[EventRow]:
        """Replay stored events after `after`, then follow live ones until `is_final`."""
        sub = self.subscribe(job_id)
        try:
            last = after
            while True:
                # Storage first: it holds everything up to now, including what the live
                # queue may have missed while lagging.
                for row in await self.events.find(job_id, after=last):
                    last = row.seq
                    yield row
                    if is_final(row):
                        return
                sub.lagged = False
                while True:
                    try:
                        row = await sub.get()
                    except Lagged:
                        break
                    if row.seq <= last:
                        continue
                    if row.seq > last + 1:
                        break  # a gap: fill it from storage
                    last = row.seq
                    yield row
                    if is_final(row):
                        return
        finally:
            sub.close()

    async def drain(self) -> None:
        """Wait for listener deliveries in flight (used at shutdown)."""
        if self._listener_tasks:
            await asyncio.gather(*self._listener_tasks, return_exceptions=True)
