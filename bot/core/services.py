"""The domain services both faces (Matrix commands and HTTP) call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.dataprep.service import DataPrepService
from bot.core.datasets import DatasetService
from bot.core.events import EventBus
from bot.core.generation import GenerationService
from bot.core.jobs.service import JobService
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.schedules.service import ScheduleService
from bot.core.sources.service import SourceService
from storage.store import Store

if TYPE_CHECKING:
    from bot.core.openai.client import OpenAIClient


@dataclass(frozen=True)
class Services:
    """Every service, built once by the App and handed to the command and HTTP layers."""

    store: Store
    bus: EventBus
    datasets: DatasetService
    models: ModelService
    jobs: JobService
    generation: GenerationService
    notifications: NotificationOutbox
    dataprep: DataPrepService
    sources: SourceService
    schedules: ScheduleService
    # The OpenAI client, or None without an API key (features needing it say so).
    openai: OpenAIClient | None = None
