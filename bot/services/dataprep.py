"""Data preparation at the chat model: clean a dataset (`optimize`), generate one from a
template. Each produces a new dataset version; the original is never changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services.datasets import DatasetService
    from bot.services.openai_api import OpenAIBackend
    from bot.settings import OpenAISettings
    from storage.store import Store


class DataPrepService:
    """Optimize and template-generate tasks, run in the background with progress."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        openai: OpenAIBackend | None,
        settings: OpenAISettings,
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.openai = openai
        self.settings = settings

    async def start(self) -> None:
        """Mark tasks a previous process left running as interrupted."""

    async def stop(self) -> None:
        """Cancel running tasks."""
