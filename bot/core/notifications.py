"""Room notices queued by other parts (notify webhooks) for the Matrix layer to deliver.

The queue is a JSON list under one key of the persisted state table, so a notice
accepted with 202 survives a restart; the Matrix notifier drains it with `pending()`
then `ack()` after each delivery, and `wait()` wakes it when something arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass

from bot.core.errors import TooMany
from storage.state import StateRepo

OUTBOX_KEY = "notifications.outbox"


@dataclass(frozen=True)
class Notice:
    """A message for a room: `text` is markdown; `source` says who queued it."""

    id: str
    room_id: str
    text: str
    source: str
    created_at: float


class NotificationOutbox:
    """A persisted FIFO of notices; one lock makes read-modify-write safe under asyncio."""

    def __init__(self, state: StateRepo, max_pending: int = 1000) -> None:
        self.state = state
        self.max_pending = max_pending
        self._lock = asyncio.Lock()
        self._arrived = asyncio.Event()

    async def enqueue(self, room_id: str, text: str, *, source: str) -> Notice:
        """Queue a notice; 429 when the notifier has fallen far behind."""
        notice = Notice(uuid.uuid4().hex[:12], room_id, text, source, time.time())
        async with self._lock:
            queued = await self._load()
            if len(queued) >= self.max_pending:
                raise TooMany(f"{len(queued)} notices are waiting for delivery", retry_after=30)
            await self._save([*queued, notice])
        self._arrived.set()
        return notice

    async def pending(self) -> list[Notice]:
        """Queued notices, oldest first (they stay queued until acknowledged)."""
        async with self._lock:
            return await self._load()

    async def ack(self, *ids: str) -> None:
        """Forget delivered notices."""
        async with self._lock:
            await self._save([n for n in await self._load() if n.id not in ids])

    async def wait(self) -> None:
        """Return when a notice was queued since the last call."""
        await self._arrived.wait()
        self._arrived.clear()

    async def _load(self) -> list[Notice]:
        raw = await self.state.get(OUTBOX_KEY)
        return [Notice(**item) for item in json.loads(raw)] if raw else []

    async def _save(self, notices: list[Notice]) -> None:
        await self.state.set(OUTBOX_KEY, json.dumps([asdict(n) for n in notices]))
