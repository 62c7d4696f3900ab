"""What people read about data tasks: estimates, the progress line, the final notice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.dataprep.progress import Progress
from storage.data_tasks import DataTaskRow

LISTED = 10  # invalid answers named in a notice; the rest are counted


@dataclass(frozen=True)
class Estimate:
    """What a task will cost before it runs: items, API calls, tokens and dollars."""

    kind: str  # "optimize" or "generate"
    target: str  # the version cleaned (`name@v1`) or the name generated into
    items: int  # records to clean or pairs to generate
    calls: int
    input_tokens: int
    output_tokens: int
    output_is_limit: bool  # True: output_tokens is the max_tokens bound, not a guess
    cost_usd: float
    model: str
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One paragraph: `ds@v1: 40 records → 40 calls to gpt-4o-mini, about …`."""
        noun = "records" if self.kind == "optimize" else "combinations"
        sent, received = f"{self.input_tokens:,}", f"{self.output_tokens:,}"
        if self.output_is_limit:
            each = self.output_tokens // max(self.items, 1)
            tokens = (
                f"about {sent} input tokens (estimated as UTF-8 bytes / 4) and at "
                f"most {received} output tokens (max_tokens={each} per call), at most"
            )
        else:
            tokens = (
                f"about {sent} input and {received} output tokens (estimated as UTF-8 "
                "bytes / 4), about"
            )
        text = (
            f"{self.target}: {self.items} {noun} → {self.calls} API calls to {self.model}, "
            f"{tokens} {dollars(self.cost_usd)}."
        )
        return " ".join([text, *self.notes])

    def to_dict(self) -> dict[str, Any]:
        """For the HTTP answer."""
        return {
            "kind": self.kind,
            "target": self.target,
            "items": self.items,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "output_is_limit": self.output_is_limit,
            "cost_usd": round(self.cost_usd, 6),
            "model": self.model,
            "notes": list(self.notes),
            "summary": self.describe(),
        }


def dollars(value: float) -> str:
    """`$0.0014`, `$3.20`."""
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def what(task: DataTaskRow) -> str:
    """`cleaning ds@v1` or `generating stories`."""
    if task.kind == "optimize":
        return f"cleaning {task.params.get('source', task.dataset_name)}"
    return f"generating {task.dataset_name}"


def progress_line(task: DataTaskRow, progress: Progress) -> str:
    """The room's progress message: `🧹 cleaning ds@v1 (task x): 12/40, 1 invalid`."""
    icon = {"succeeded": "✅", "failed": "❌"}.get(task.status, "⏳")
    invalid = "kept the original" if task.kind == "optimize" else "left out"
    line = f"{icon} {what(task)} (task {task.id}): {progress.done}/{progress.total} done"
    if progress.invalid:
        line += f", {progress.invalid} {invalid}"
    if task.status == "succeeded":
        line += f" → {task.result_label}"
    elif task.status == "failed":
        line += " — failed"
    return line


def final_text(task: DataTaskRow) -> str:
    """The notice when a task ends: the new version and every invalid answer, or why not."""
    if task.status != "succeeded":
        return f"❌ Task {task.id} ({what(task)}) failed: {task.error or 'unknown error'}"
    report = task.report
    if task.kind == "optimize":
        head = (
            f"✅ Task {task.id}: cleaned {task.params.get('source')} into {task.result_label} "
            f"({report.get('stored')} records, {report.get('changed', 0)} changed)."
        )
        problem = "answers failed validation; those records kept the original"
    else:
        head = (
            f"✅ Task {task.id}: generated {task.result_label} "
            f"({report.get('stored')} prompt/completion pairs)."
        )
        problem = "combinations were left out"
    lines = [head + _usage(report)]
    invalid: list[dict[str, Any]] = report.get("invalid", [])
    if invalid:
        lines.append(f"{len(invalid)} {problem}:")
        lines += [f"- {item['where']}: {item['reason']}" for item in invalid[:LISTED]]
        if len(invalid) > LISTED:
            lines.append(f"… and {len(invalid) - LISTED} more (GET /v1/tasks/{task.id})")
    if report.get("left_out"):
        lines.append(f"{report['left_out']} rows the original version skipped are left out.")
    return "\n".join(lines)


def _usage(report: dict[str, Any]) -> str:
    usage = report.get("usage") or {}
    if not usage:
        return ""
    return (
        f" Used {usage.get('input_tokens', 0):,} input and {usage.get('output_tokens', 0):,} "
        f"output tokens ({dollars(float(usage.get('cost_usd', 0.0)))})."
    )
