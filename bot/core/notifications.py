"""Room notices queued by other parts (webhooks, sources, schedules) for the room face.

One row per notice in the `notices` table (migration 0008), so a notice accepted with
202 survives a restart and queueing one costs one insert, however many wait; the room
face drains them with `pending()` then `ack()` after each delivery, and `wait()` wakes
it when something arrives.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bot.core.errors import TooMany
from storage.notifications import NoticeRepo, NoticeRow
from storage.state import StateRepo

Notice = NoticeRow  # what the faces see: a queued message for a room


class NotificationOutbox:
    """A persisted FIFO of notices, limited to `max_pending` waiting ones."""

    def __init__(self, state: StateRepo, max_pending: int = 1000) -> None:
        # Built from the state repository's database, as before the table existed.
        self.notices = NoticeRepo(state.db)
        self.max_pending = max_pending
        self._arrived = asyncio.Event()

    async def enqueue(
        self, room_id: str, text: str, *, source: str, markdown: bool = False
    ) -> Notice:
        """Queue a notice; 429 when the room face has fallen far behind.

        `text` is posted as plain text: third-party words (webhook text, fetch errors,
        model reasons) never become live links or formatting. Only the bot's own
        sentences may pass `markdown=True`.
        """
        notice = Notice(uuid.uuid4().hex[:12], room_id, text, source, time.time(), markdown)
        if not await self.notices.add(notice, self.max_pending):
            waiting = await self.notices.count()
            raise TooMany(f"{waiting} notices are waiting for delivery", retry_after=30)
        self._arrived.set()
        return notice

    async def pending(self) -> list[Notice]:
        """Queued notices, oldest first (they stay queued until acknowledged)."""
        return await self.notices.pending()

    async def ack(self, *ids: str) -> None:
        """Forget delivered notices."""
        await self.notices.remove(ids)

    async def wait(self) -> None:
        """Return when a notice was queued since the last call."""
        await self._arrived.wait()
        self._arrived.clear()
