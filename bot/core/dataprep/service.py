"""Data preparation at the chat model: clean a dataset (`optimize`), generate one from a
template. Each produces a new dataset version; the original is never changed.

Both are estimated first (nothing is stored), then run as a background task with a row
in `data_tasks`: a fixed pool of `max_concurrency` workers calls the chat model (the
client retries 429 and 5xx with backoff), progress is kept in memory for followers, and
the dataset version is written only when every call succeeded, so a failed task leaves
nothing behind. The room face follows `live(task_id)` to show progress and the outcome.

The flows live in `optimize.py` and `generate.py`; the background tasks in `tasks.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from bot.core.dataprep.chat import ChatModel, PricedChat
from bot.core.dataprep.estimate import Estimate
from bot.core.dataprep.generate import estimate_generation, generate, generation_params
from bot.core.dataprep.optimize import clean, plan_cleaning
from bot.core.dataprep.progress import LiveTask
from bot.core.dataprep.tasks import Outcome, Prepared, Show, TaskRunner
from bot.core.dataprep.template import TemplateSpec
from bot.core.errors import Invalid
from storage.data_tasks import DataTaskRow

if TYPE_CHECKING:
    from bot.core.datasets import DatasetService
    from bot.settings import OpenAISettings
    from storage.store import Store

NEEDS_KEY = (
    "data preparation uses the OpenAI chat model: set [openai] api_key (or api_key_file) "
    "in the config"
)


class DataPrepService:
    """Optimize and template-generate tasks, run in the background with progress."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        openai: ChatModel | None,
        settings: OpenAISettings,
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.chat = PricedChat(openai, settings) if openai is not None else None
        self.tasks = TaskRunner(store)

    async def start(self) -> None:
        """Mark tasks a previous process left running as interrupted."""
        await self.tasks.start()

    async def stop(self) -> None:
        """Cancel running tasks; they store no dataset version."""
        await self.tasks.stop()

    # -- optimize -----------------------------------------------------------------------

    async def estimate_optimize(self, ref: str, instructions: str | None = None) -> Estimate:
        """What cleaning every record of a dataset version would cost; stores nothing."""
        plan = await plan_cleaning(self.datasets, self._chat(), ref, instructions)
        return plan.estimate

    async def optimize(
        self,
        ref: str,
        instructions: str | None = None,
        *,
        requested_by: str = "",
        room_id: str | None = None,
    ) -> DataTaskRow:
        """Start cleaning a dataset version into a new version of the same name."""
        chat = self._chat()
        plan = await plan_cleaning(self.datasets, chat, ref, instructions)
        items = len(plan.source.records)
        task = await self.tasks.create(
            "optimize",
            plan.dataset.name,
            plan.dataset.id,
            plan.params(),
            requested_by,
            room_id,
            items,
        )
        self.tasks.launch(task, items, lambda live: self._store(task, clean(plan, chat, live)))
        return task

    # -- generate -----------------------------------------------------------------------

    async def estimate_generate(self, name: str, spec: TemplateSpec) -> Estimate:
        """What generating every combination of a template would cost; stores nothing."""
        return estimate_generation(self._chat(), name, spec, self.datasets.min_examples)

    async def generate(
        self, name: str, spec: TemplateSpec, *, requested_by: str = "", room_id: str | None = None
    ) -> DataTaskRow:
        """Start generating `{"prompt", "completion"}` pairs into a new version of `name`."""
        chat = self._chat()
        estimate = estimate_generation(chat, name, spec, self.datasets.min_examples)
        params = generation_params(spec, estimate)
        task = await self.tasks.create(
            "generate", name, None, params, requested_by, room_id, spec.count
        )
        self.tasks.launch(
            task, spec.count, lambda live: self._store(task, generate(spec, chat, live))
        )
        return task

    # -- tasks ----------------------------------------------------------------------------

    async def get(self, task_id: str) -> DataTaskRow:
        """One task, with its live progress while it runs."""
        return await self.tasks.get(task_id)

    async def find(self, limit: int = 50) -> list[DataTaskRow]:
        """The newest tasks first."""
        return await self.tasks.find(limit)

    def live(self, task_id: str) -> LiveTask | None:
        """The running task's progress, or None once it ended."""
        return self.tasks.live(task_id)

    def follow(self, task_id: str, show: Show, interval_s: float) -> None:
        """Call `show(task)` as the task progresses (see `TaskRunner.follow`)."""
        self.tasks.follow(task_id, show, interval_s)

    def check_available(self) -> None:
        """Refuse (422) when no API key is configured: every task needs the chat model."""
        self._chat()

    def _chat(self) -> PricedChat:
        if self.chat is None:
            raise Invalid(NEEDS_KEY)
        return self.chat

    async def _store(self, task: DataTaskRow, work: Awaitable[Prepared]) -> Outcome:
        """Run the task's work; only when all of it succeeded is the new version written."""
        prepared = await work
        stored = await self.datasets.upload_records(
            task.dataset_name,
            prepared.records,
            format=prepared.format,
            created_by=task.requested_by,
            room_id=task.room_id,
        )
        return stored.dataset, prepared.report
