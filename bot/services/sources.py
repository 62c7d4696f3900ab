"""Data sources: HTTP endpoints fetched on a schedule into new dataset versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.services.datasets import DatasetService
    from bot.services.notifications import NotificationOutbox
    from bot.settings import SourceSettings
    from storage.store import Store


class SourceService:
    """Fetch `[[sources]]` on their schedules; `!sources` reads their last results."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        notifications: NotificationOutbox,
        sources: list[SourceSettings],
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.notifications = notifications
        self.sources = sources

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add one scheduler job per source."""

    async def stop(self) -> None:
        """Stop fetching (running fetches are cancelled and write nothing)."""
