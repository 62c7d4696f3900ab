"""The domain services both faces (Matrix commands and HTTP) call."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.services.datasets import DatasetService
from bot.services.events import EventBus
from bot.services.generation import GenerationService
from bot.services.jobs import JobService
from bot.services.models import ModelService
from bot.services.notifications import NotificationOutbox
from storage.store import Store


@dataclass(frozen=True)
class Services:
    """Every service, built once by the App and handed to the command and HTTP layers."""

    store: Store
    bus: EventBus
    datasets: DatasetService
    models: ModelService
    jobs: JobService
    generation: GenerationService
    # Built from `store` rather than passed in, so existing constructors keep working.
    notifications: NotificationOutbox = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "notifications", NotificationOutbox(self.store.state))
