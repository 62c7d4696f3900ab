"""Text shared by replies and progress messages: bars, durations, tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bot.matrix.format import Formatted, table
from storage.datasets import DatasetRow
from storage.jobs import JobRow
from storage.registry import ModelRow


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
    if job.status != "running":
        parts.append(job.status)
    return " · ".join(parts)


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
    import time

    return duration(time.time() - created_at) + " ago"
