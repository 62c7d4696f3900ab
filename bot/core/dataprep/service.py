"""Data preparation at the chat model: clean a dataset (`optimize`), generate one from a
template. Each produces a new dataset version; the original is never changed.

Both are estimated first (nothing is stored), then run as a background task with a row
in `data_tasks`: a fixed pool of `max_concurrency` workers calls the chat model (the
client retries 429 and 5xx with backoff), progress is kept in memory for followers, and
the dataset version is written only when every call succeeded, so a failed task leaves
nothing behind. The room face follows `live(task_id)` to show progress and the outcome.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.dataprep.clean import (
    DEFAULT_INSTRUCTIONS,
    BadAnswer,
    Source,
    cleaned_record,
    cleaning_messages,
    estimated_tokens,
    is_json_format,
    read_source,
)
from bot.core.dataprep.progress import LiveTask, run_bounded
from bot.core.dataprep.tasks import Outcome, Show, TaskFailed, TaskRunner
from bot.core.dataprep.template import TemplateSpec
from bot.core.dataprep.text import Estimate
from bot.core.errors import Invalid
from bot.core.naming import check_name
from bot.core.openai.client import ChatAnswer, ChatFailed
from bot.logs import get_logger
from storage.data_tasks import DataTaskRow
from storage.datasets import DatasetRow
from trainer.data.blocks import estimate_tokens

if TYPE_CHECKING:
    from bot.core.datasets import DatasetService
    from bot.core.openai.client import OpenAIBackend
    from bot.settings import OpenAISettings
    from storage.store import Store

log = get_logger(__name__)
NEEDS_KEY = (
    "data preparation uses the OpenAI chat model: set [openai] api_key (or api_key_file) "
    "in the config"
)
MAX_INSTRUCTIONS = 4000


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
        _, _, _, estimate = await self._plan_optimize(ref, instructions)
        return estimate

    async def optimize(
        self,
        ref: str,
        instructions: str | None = None,
        *,
        requested_by: str = "",
        room_id: str | None = None,
    ) -> DataTaskRow:
        """Start cleaning a dataset version into a new version of the same name."""
        dataset, source, text, estimate = await self._plan_optimize(ref, instructions)
        params = {
            "source": dataset.label,
            "format": source.format,
            "instructions": None if text == DEFAULT_INSTRUCTIONS else text,
            "estimate": estimate.to_dict(),
        }
        task = await self.tasks.create(
            "optimize", dataset.name, dataset.id, params, requested_by, room_id, len(source.records)
        )
        self.tasks.launch(
            task, len(source.records), lambda live: self._clean(task, live, source, text)
        )
        return task

    async def _plan_optimize(
        self, ref: str, instructions: str | None
    ) -> tuple[DatasetRow, Source, str, Estimate]:
        backend = self._backend()
        if instructions is not None and not instructions.strip():
            raise Invalid("the instructions are empty; leave them out for the default cleaning")
        if instructions is not None and len(instructions) > MAX_INSTRUCTIONS:
            raise Invalid(f"the instructions are longer than {MAX_INSTRUCTIONS} characters")
        dataset = await self.datasets.resolve(ref)
        source = await asyncio.to_thread(read_source, Path(dataset.path), dataset.format)
        if not source.records:
            raise Invalid(f"{dataset.label} has no valid records to clean")
        text = instructions.strip() if instructions else DEFAULT_INSTRUCTIONS
        tokens = [
            estimated_tokens(cleaning_messages(source.format, r.value, text))
            for r in source.records
        ]
        notes = (f"{source.left_out} rows the version skipped as invalid are left out.",)
        return (
            dataset,
            source,
            text,
            self._estimate(
                "optimize",
                dataset.label,
                len(source.records),
                sum(t[0] for t in tokens),
                sum(t[1] for t in tokens),
                False,
                backend.chat_model,
                notes if source.left_out else (),
            ),
        )

    async def _clean(self, task: DataTaskRow, live: LiveTask, source: Source, text: str) -> Outcome:
        backend = self._backend()
        results = [record.value for record in source.records]
        invalid: list[dict[str, Any]] = []
        usage = [0, 0]
        json_object = is_json_format(source.format)

        async def work(index: int) -> None:
            record = source.records[index]
            messages = cleaning_messages(source.format, record.value, text)
            answer = await _ask(
                backend, messages, f"line {record.line}", usage, json_object=json_object
            )
            cut_off = answer.finish_reason == "length"
            try:
                results[index] = cleaned_record(
                    source.format, record.line, record.value, answer.text, cut_off
                )
            except BadAnswer as exc:
                invalid.append(
                    {
                        "where": f"line {record.line}",
                        "line": record.line,
                        "reason": f"{exc}; kept the original",
                    }
                )
                live.advance(invalid=True)
            else:
                live.advance()

        await run_bounded(len(results), work, self.settings.max_concurrency)
        changed = sum(new != old.value for new, old in zip(results, source.records, strict=True))
        stored = await self.datasets.upload_records(
            task.dataset_name,
            results,
            format=source.format,
            created_by=task.requested_by,
            room_id=task.room_id,
        )
        report = {
            "stored": len(results),
            "changed": changed,
            "left_out": source.left_out,
            "invalid": sorted(invalid, key=lambda item: item["line"]),
            "usage": self._usage(*usage),
        }
        return stored.dataset, report

    # -- generate -----------------------------------------------------------------------

    async def estimate_generate(self, name: str, spec: TemplateSpec) -> Estimate:
        """What generating every combination of a template would cost; stores nothing."""
        backend = self._backend()
        check_name(name, "dataset")
        if spec.count < self.datasets.min_examples:
            raise Invalid(
                f"{spec.count} combinations make {spec.count} pairs; a dataset needs at least "
                f"{self.datasets.min_examples} (trainer.min_examples): add values to the lists"
            )
        sent = sum(estimate_tokens(c.generation_prompt) for c in spec.combinations())
        return self._estimate(
            "generate",
            name,
            spec.count,
            sent,
            spec.count * spec.max_tokens,
            True,
            backend.chat_model,
        )

    async def generate(
        self, name: str, spec: TemplateSpec, *, requested_by: str = "", room_id: str | None = None
    ) -> DataTaskRow:
        """Start generating `{"prompt", "completion"}` pairs into a new version of `name`."""
        estimate = await self.estimate_generate(name, spec)
        params = {
            "template": spec.template,
            "prompt": spec.prompt,
            "variables": {k: list(v) for k, v in spec.variables.items()},
            "max_tokens": spec.max_tokens,
            "temperature": spec.temperature,
            "estimate": estimate.to_dict(),
        }
        task = await self.tasks.create(
            "generate", name, None, params, requested_by, room_id, spec.count
        )
        self.tasks.launch(task, spec.count, lambda live: self._complete(task, live, spec))
        return task

    async def _complete(self, task: DataTaskRow, live: LiveTask, spec: TemplateSpec) -> Outcome:
        backend = self._backend()
        combinations = spec.combinations()
        answers: list[str | None] = [None] * len(combinations)
        usage = [0, 0]

        async def work(index: int) -> None:
            combo = combinations[index]
            messages = [{"role": "user", "content": combo.generation_prompt}]
            answer = await _ask(
                backend,
                messages,
                f"pair {combo.number} ({combo.describe()})",
                usage,
                max_tokens=spec.max_tokens,
                temperature=spec.temperature,
            )
            answers[index] = answer.text.strip() or None
            live.advance(invalid=answers[index] is None)

        await run_bounded(len(combinations), work, self.settings.max_concurrency)
        pairs = [
            {"prompt": combo.final_prompt, "completion": text}
            for combo, text in zip(combinations, answers, strict=True)
            if text
        ]
        invalid = [
            {
                "where": f"pair {c.number} ({c.describe()})",
                "line": c.number,
                "reason": "the model returned an empty completion; left out",
            }
            for c, text in zip(combinations, answers, strict=True)
            if not text
        ]
        stored = await self.datasets.upload_records(
            task.dataset_name,
            pairs,
            format="completion",
            created_by=task.requested_by,
            room_id=task.room_id,
        )
        report = {"stored": len(pairs), "invalid": invalid, "usage": self._usage(*usage)}
        return stored.dataset, report

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
        self._backend()

    def _backend(self) -> OpenAIBackend:
        if self.openai is None:
            raise Invalid(NEEDS_KEY)
        return self.openai

    def _estimate(
        self,
        kind: str,
        target: str,
        items: int,
        sent: int,
        received: int,
        is_limit: bool,
        model: str,
        notes: tuple[str, ...] = (),
    ) -> Estimate:
        cost = self._cost(sent, received)
        return Estimate(kind, target, items, items, sent, received, is_limit, cost, model, notes)

    def _cost(self, sent: int, received: int) -> float:
        s = self.settings
        return (sent * s.input_price_per_mtok + received * s.output_price_per_mtok) / 1e6

    def _usage(self, sent: int, received: int) -> dict[str, Any]:
        return {
            "input_tokens": sent,
            "output_tokens": received,
            "cost_usd": round(self._cost(sent, received), 6),
        }


async def _ask(
    backend: OpenAIBackend,
    messages: list[dict[str, str]],
    where: str,
    usage: list[int],
    **options: Any,
) -> ChatAnswer:
    """One chat call; its tokens are added to `usage`, a failure names the item."""
    try:
        answer = await backend.chat(messages, **options)
    except ChatFailed as exc:
        raise TaskFailed(f"the chat model failed on {where}: {exc}") from None
    usage[0] += answer.prompt_tokens
    usage[1] += answer.completion_tokens
    return answer
