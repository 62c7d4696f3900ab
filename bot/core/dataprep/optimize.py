"""Optimize: clean every record of a dataset version with the chat model.

Planned first (read the version, estimate the cost; nothing is stored), then run with
one call per record. An answer that fails validation keeps the original record and is
reported; a failed call fails the whole task.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.dataprep.chat import PricedChat, Tally, run_bounded
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
from bot.core.dataprep.estimate import Estimate
from bot.core.dataprep.progress import LiveTask
from bot.core.dataprep.tasks import Prepared
from bot.core.errors import Invalid

if TYPE_CHECKING:
    from bot.core.datasets import DatasetService
    from storage.datasets import DatasetRow

MAX_INSTRUCTIONS = 4000


@dataclass(frozen=True)
class CleaningPlan:
    """A dataset version read and priced, ready to clean."""

    dataset: DatasetRow
    source: Source
    instructions: str
    estimate: Estimate

    def params(self) -> dict[str, Any]:
        """As stored with the task."""
        default = self.instructions == DEFAULT_INSTRUCTIONS
        return {
            "source": self.dataset.label,
            "format": self.source.format,
            "instructions": None if default else self.instructions,
            "estimate": self.estimate.to_dict(),
        }


async def plan_cleaning(
    datasets: DatasetService, chat: PricedChat, ref: str, instructions: str | None
) -> CleaningPlan:
    """Read the version `ref` and estimate cleaning it; Invalid when there is nothing to do."""
    text = _instructions(instructions)
    dataset = await datasets.resolve(ref)
    source = await asyncio.to_thread(read_source, Path(dataset.path), dataset.format)
    if not source.records:
        raise Invalid(f"{dataset.label} has no valid records to clean")
    tally = Tally()
    for record in source.records:
        sent, received = estimated_tokens(cleaning_messages(source.format, record.value, text))
        tally.sent += sent
        tally.received += received
    notes = (f"{source.left_out} rows the version skipped as invalid are left out.",)
    estimate = chat.estimate(
        "optimize",
        dataset.label,
        len(source.records),
        tally,
        False,
        notes if source.left_out else (),
    )
    return CleaningPlan(dataset, source, text, estimate)


def _instructions(instructions: str | None) -> str:
    if instructions is not None and not instructions.strip():
        raise Invalid("the instructions are empty; leave them out for the default cleaning")
    if instructions is not None and len(instructions) > MAX_INSTRUCTIONS:
        raise Invalid(f"the instructions are longer than {MAX_INSTRUCTIONS} characters")
    return instructions.strip() if instructions else DEFAULT_INSTRUCTIONS


async def clean(plan: CleaningPlan, chat: PricedChat, live: LiveTask) -> Prepared:
    """Every record cleaned (or kept, when its answer failed validation), and the report."""
    source, text = plan.source, plan.instructions
    results = [record.value for record in source.records]
    invalid: list[dict[str, Any]] = []
    tally = Tally()
    json_object = is_json_format(source.format)

    async def work(index: int) -> None:
        record = source.records[index]
        messages = cleaning_messages(source.format, record.value, text)
        where = f"line {record.line}"
        answer = await chat.ask(messages, where, tally, json_object=json_object)
        cut_off = answer.finish_reason == "length"
        try:
            results[index] = cleaned_record(
                source.format, record.line, record.value, answer.text, cut_off
            )
        except BadAnswer as exc:
            invalid.append(
                {"where": where, "line": record.line, "reason": f"{exc}; kept the original"}
            )
            live.advance(invalid=True)
        else:
            live.advance()

    await run_bounded(len(results), work, chat.concurrency)
    changed = sum(new != old.value for new, old in zip(results, source.records, strict=True))
    report = {
        "stored": len(results),
        "changed": changed,
        "left_out": source.left_out,
        "invalid": sorted(invalid, key=lambda item: item["line"]),
        "usage": chat.usage(tally),
    }
    return Prepared(results, source.format, report)
