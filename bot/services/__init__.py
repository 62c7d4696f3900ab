"""The domain services both faces (Matrix commands and HTTP) call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.services.dataprep import DataPrepService
from bot.services.datasets import DatasetService
from bot.services.events import EventBus
from bot.services.generation import GenerationService
from bot.services.jobs import JobService
from bot.services.models import ModelService
from bot.services.notifications import NotificationOutbox
from bot.services.schedules import ScheduleService
from bot.services.sources import SourceService
from storage.store import Store

if TYPE_CHECKING:
    from bot.services.openai_api import OpenAIBackend


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
    openai: OpenAIBackend | None = None
