"""Adaptive retraining: `[[schedules]]` policies evaluated on a schedule, every decision
recorded and posted; a retrain goes through the job service like any other job."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.services.datasets import DatasetService
    from bot.services.jobs import JobService
    from bot.services.models import ModelService
    from bot.services.notifications import NotificationOutbox
    from bot.services.openai_api import OpenAIBackend
    from bot.settings import ScheduleSettings
    from storage.store import Store


class ScheduleService:
    """Evaluate retraining policies; `!schedule` shows them and their last decisions."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        models: ModelService,
        jobs: JobService,
        notifications: NotificationOutbox,
        schedules: list[ScheduleSettings],
        openai: OpenAIBackend | None,
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.models = models
        self.jobs = jobs
        self.notifications = notifications
        self.schedules = schedules
        self.openai = openai

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add one scheduler job per schedule."""

    async def stop(self) -> None:
        """Stop evaluating."""
