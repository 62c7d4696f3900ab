"""What people read in the room: progress lines, final notices, tables, units.

Every sentence the room face writes about jobs and data tasks lives here; commands and
`bot.room.follow` only choose which one to show. Text that names a command takes the
configured prefix (`matrix.command_prefix`), never a hard-coded `!`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any

from bot.core.dataprep.estimate import dollars
from bot.core.dataprep.progress import Progress
from bot.core.types import JobStatus
from bot.matrix.format import Formatted, escape, table
from storage.data_tasks import DataTaskRow
from storage.datasets import DatasetRow
from storage.jobs import JobRow
from storage.registry import ModelRow

LISTED = 10  # invalid answers named in a task's final notice; the rest are counted


_ROUTE = r"(?:GET|POST|PUT|PATCH|DELETE) /v1/[^\s,;)]*"
# HTTP routes in the core's shared messages, with the words that attach them: a chat
# points at chat commands only (`!jobs or GET /v1/jobs lists them` → `!jobs lists them`).
_HTTP_ROUTES = (
    re.compile(rf" or {_ROUTE}"),
    re.compile(rf"[;,] {_ROUTE} (?:lists|shows) (?:them|it)"),
    re.compile(rf" ?\({_ROUTE}\)"),
)
_CODE = re.compile(r"`([^`\n]+)`")


def error_text(message: str, prefix: str) -> str:
    """A domain error as the room reads it: core names commands as `!name` (both faces
    share its messages); the room shows its configured prefix instead and leaves out the
    HTTP routes."""
    for route in _HTTP_ROUTES:
        message = route.sub("", message)
    return message.replace("`!", f"`{prefix}")


def code_spans(value: str) -> Formatted:
    """Plain text whose `code` spans are <code> in the HTML (never literal backticks)."""
    return Formatted(value, _CODE.sub(r"<code>\1</code>", escape(value)))


def duration(seconds: float | None) -> str:
    """`1m12s`, `2h05m`, `45s`; `?` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def bar(fraction: float, width: int = 10) -> str:
    """`[██████░░░░]`."""
    filled = max(0, min(width, round(fraction * width)))
    return "[" + "█" * filled + "░" * (width - filled) + "]"


def rate(tokens_per_s: float | None) -> str:
    """`4.1k tok/s`."""
    if not tokens_per_s:
        return "? tok/s"
    if tokens_per_s >= 1000:
        return f"{tokens_per_s / 1000:.1f}k tok/s"
    return f"{tokens_per_s:.0f} tok/s"


def progress_line(job: JobRow, progress: dict[str, Any] | None) -> str:
    """`Training poems (job k7qm2xfa) · [██████░░░░] 60% · step 720/1200 · loss 2.31 · …`."""
    head = f"Training {job.name} (job {job.id})"
    if not progress:
        return f"{head} · {job.status.replace('_', ' ')}"
    step, total = int(progress.get("step", 0)), int(progress.get("total_steps") or 0)
    fraction = step / total if total else 0.0
    parts = [
        head,
        f"{bar(fraction)} {fraction:.0%}",
        f"step {step}/{total}",
        f"loss {float(progress.get('loss') or 0):.2f}",
        rate(progress.get("tokens_per_s")),
        f"ETA {duration(progress.get('eta_s'))}",
    ]
    if job.status != JobStatus.RUNNING:
        parts.append(job.status)
    return " · ".join(parts)


def queued_text(job: JobRow, announced: dict[str, Any], prefix: str) -> str:
    """The acknowledgement of `train`: what trains on what, the queue, the estimate."""
    position = int(announced.get("position", 1))
    waiting = f", {position - 1} ahead in the queue" if position > 1 else ""
    estimate = duration(announced.get("estimate_s"))
    if announced.get("estimate_measured") is False:
        estimate += " (a first guess: no run of this base was measured here yet)"
    return (
        f"Queued job {job.id}: {job.name} from dataset {announced.get('dataset')} on "
        f"{job.base}{waiting}; estimated {estimate}. "
        f"Progress will appear here; {prefix}cancel {job.id} stops it."
    )


def job_final_text(job: JobRow, prefix: str, active: str | None = None) -> str:
    """The notice for a finished job: metrics and which version is active on success
    (`active`: the label of the active version of the job's name), the reason otherwise."""
    if job.status == JobStatus.SUCCEEDED:
        r = job.result or {}
        facts = _job_facts(r)
        detail = f" {', '.join(facts)}." if facts else ""
        model = r.get("model")
        return (
            f"✅ Job {job.id} succeeded: model {model} is ready.{detail} "
            f"{_activation(model, active, prefix)} "
            f"Try it: {prefix}generate model={model} <prompt>"
        )
    if job.status == JobStatus.CANCELLED:
        return f"⏹ Job {job.id} ({job.name}) was cancelled."
    return f"❌ Job {job.id} ({job.name}) failed: {job.error or 'unknown error'}"


def _activation(model: object, active: str | None, prefix: str) -> str:
    """Whether the new version is the one in use, and how to make it so."""
    if active == model:
        return "It is the active version now."
    if active is None:
        return f"No version is active; {prefix}activate {model} makes it the active one."
    return f"Model {active} is still the active version; {prefix}activate {model} switches to it."


def _job_facts(r: dict[str, Any]) -> list[str]:
    facts = []  # only what this backend measured: a remote job has no local eval
    if isinstance(r.get("eval_loss"), int | float):
        facts.append(f"eval loss {r['eval_loss']:.3f}")
    before, after = r.get("initial_perplexity"), r.get("perplexity")
    if isinstance(before, int | float) and isinstance(after, int | float):
        facts.append(f"perplexity {before:.1f} → {after:.1f}")
    margin, start = r.get("reward_margin"), r.get("initial_reward_margin")
    if isinstance(margin, int | float):  # a DPO run: what preference tuning moved
        begun = f"{start:.3f} → " if isinstance(start, int | float) else ""
        accuracy = r.get("reward_accuracy")
        right = f" (accuracy {accuracy:.0%})" if isinstance(accuracy, int | float) else ""
        facts.append(f"reward margin {begun}{margin:.3f}{right}")
    if r.get("tokens_seen"):
        facts.append(f"{r['tokens_seen']} tokens at {rate(r.get('tokens_per_s'))}")
    if r.get("duration_s"):
        facts.append(f"took {duration(r['duration_s'])}")
    return facts


def loss_curve_title(job: JobRow) -> str:
    """The title of the loss-curve image posted when a job succeeds."""
    return f"{job.name} · job {job.id}"


def task_what(task: DataTaskRow) -> str:
    """`cleaning dataset ds@v1` or `generating dataset stories`."""
    if task.kind == "optimize":
        return f"cleaning dataset {task.params.get('source', task.dataset_name)}"
    return f"generating dataset {task.dataset_name}"


def task_progress_line(task: DataTaskRow, progress: Progress) -> str:
    """The room's progress message: `🧹 cleaning ds@v1 (task x): 12/40, 1 invalid`."""
    icon = {JobStatus.SUCCEEDED: "✅", JobStatus.FAILED: "❌"}.get(task.status, "⏳")
    invalid = "kept the original" if task.kind == "optimize" else "left out"
    line = f"{icon} {task_what(task)} (task {task.id}): {progress.done}/{progress.total} done"
    if progress.invalid:
        line += f", {progress.invalid} {invalid}"
    if task.status == JobStatus.SUCCEEDED:
        line += f" → dataset {task.result_label}"
    elif task.status == JobStatus.FAILED:
        line += " — failed"
    return line


def task_final_text(task: DataTaskRow) -> str:
    """The notice when a task ends: the new version and every invalid answer, or why not."""
    if task.status != JobStatus.SUCCEEDED:
        return f"❌ Task {task.id} ({task_what(task)}) failed: {task.error or 'unknown error'}"
    report = task.report
    if task.kind == "optimize":
        head = (
            f"✅ Task {task.id}: cleaned dataset {task.params.get('source')} into dataset "
            f"{task.result_label} "
            f"({report.get('stored')} records, {report.get('changed', 0)} changed)."
        )
        problem = "answers failed validation; those records kept the original"
    else:
        head = (
            f"✅ Task {task.id}: generated dataset {task.result_label} "
            f"({report.get('stored')} prompt/completion pairs)."
        )
        problem = "combinations were left out"
    lines = [head + _task_usage(report)]
    invalid: list[dict[str, Any]] = report.get("invalid", [])
    if invalid:
        lines.append(f"{len(invalid)} {problem}:")
        lines += [f"- {item['where']}: {item['reason']}" for item in invalid[:LISTED]]
        if len(invalid) > LISTED:
            lines.append(f"… and {len(invalid) - LISTED} more.")
    if report.get("left_out"):
        lines.append(f"{report['left_out']} rows the original version skipped are left out.")
    return "\n".join(lines)


def _task_usage(report: dict[str, Any]) -> str:
    usage = report.get("usage") or {}
    if not usage:
        return ""
    return (
        f" Used {usage.get('input_tokens', 0):,} input and {usage.get('output_tokens', 0):,} "
        f"output tokens ({dollars(float(usage.get('cost_usd', 0.0)))})."
    )


def jobs_table(jobs: Sequence[JobRow]) -> Formatted:
    """Jobs as a table readable in HTML and plain text."""
    rows = [(j.id, j.name, j.status, j.requested_by or "-", _age(j.created_at)) for j in jobs]
    return table(("job", "model", "status", "by", "created"), rows)


def models_table(models: Sequence[ModelRow]) -> Formatted:
    """Model versions with their metrics."""
    rows = []
    for m in models:
        ppl = m.metrics.get("perplexity")
        rows.append(
            (
                m.label + (" *" if m.active else ""),
                m.id,
                m.backend,
                f"{ppl:.1f}" if isinstance(ppl, int | float) else "-",
                _size(m.size_bytes),
            )
        )
    return table(("model (* active)", "id", "backend", "perplexity", "size"), rows)


def datasets_table(datasets: Sequence[DatasetRow]) -> Formatted:
    """Dataset versions with their sizes."""
    rows = [
        (d.label, d.id, d.format, d.examples, d.stats.get("total_tokens", "-")) for d in datasets
    ]
    return table(("dataset", "id", "format", "examples", "tokens"), rows)


def _size(size: int) -> str:
    if size <= 0:
        return "-"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.0f} KiB"


def _age(created_at: float) -> str:
    return duration(time.time() - created_at) + " ago"
