"""Token statistics of a dataset, shown before training and used for the time estimate.

Each example counts as the tokens of its segments, each segment tokenized on its own
(as the training side does to know which tokens are trained), plus one `<|endoftext|>`
after the example. That end-of-text token counts as trained (the model learns to stop)
when the example has trained tokens, as `trainer.packing` does.

Percentiles use the nearest-rank method: the p-th percentile of n sorted counts is the
value at rank `ceil(p / 100 * n)` (1-based, at least 1). The median is the usual one
(the mean of the two middle values for an even count).

The length histogram has at most `HISTOGRAM_BINS` bins of one integer width from just
below the shortest example to the longest: with `start = min - 1`,
`w = max(1, ceil((max - start) / HISTOGRAM_BINS))` and `n = ceil((max - start) / w)`,
`edges = [start, start + w, ..., start + n·w]` and bin i counts the examples of
`edges[i] < tokens <= edges[i + 1]`. The counts sum to the number of examples; no examples
give `{"edges": [0], "counts": []}`.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer

from trainer.data.report import DatasetReport, Example
from trainer.data.split import split_examples


@dataclass(frozen=True)
class DatasetStats:
    """Token counts of a dataset and what the planned training will go through."""

    examples: int
    total_tokens: int  # every example: its segments plus one end-of-text token
    min_tokens: int
    max_tokens: int
    mean_tokens: float
    median_tokens: float
    p5_tokens: int
    p95_tokens: int
    over_block_size: int  # examples longer than block_size, split across blocks
    trained_tokens: int  # tokens in trained segments, plus each trained end-of-text token
    block_size: int
    epochs: float
    train_examples: int
    val_examples: int
    train_tokens: int  # one pass over the train split
    training_tokens: int  # train_tokens × epochs, before packing into blocks
    estimated_seconds: float | None  # training_tokens / tokens_per_s, when a speed is known
    # {"edges": [...], "counts": [...]}: see the module docstring
    length_histogram: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return dataclasses.asdict(self)

    def format_text(self) -> str:
        """A two-column table for people."""
        rows = [
            ("examples", f"{self.examples:,}"),
            ("tokens", f"{self.total_tokens:,}"),
            ("trained tokens", f"{self.trained_tokens:,}"),
            ("tokens per example", self._spread()),
            ("percentiles", f"p5 {self.p5_tokens:,}, p95 {self.p95_tokens:,}"),
            ("over block size", f"{self.over_block_size:,} (block size {self.block_size})"),
            ("train / validation", f"{self.train_examples:,} / {self.val_examples:,} examples"),
            ("training tokens", f"{self.training_tokens:,} ({self.epochs:g} epochs)"),
            ("estimated time", _duration(self.estimated_seconds)),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)

    def _spread(self) -> str:
        return (
            f"min {self.min_tokens:,}, median {self.median_tokens:g}, "
            f"mean {self.mean_tokens:.1f}, max {self.max_tokens:,}"
        )


def compute_stats(
    report: DatasetReport,
    tokenizer: Tokenizer,
    block_size: int,
    epochs: float,
    val_fraction: float = 0.1,
    tokens_per_s: float | None = None,
    seed: int = 42,
) -> DatasetStats:
    """Count the tokens of `report.examples` with `tokenizer` (see the module docstring).

    The train split is the one `split_examples(examples, val_fraction, seed)` picks.
    """
    examples = report.examples
    texts = [text for example in examples for text, _ in example.segments]
    flags = [trained for example in examples for _, trained in example.segments]
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
    lengths = [len(encoding.ids) for encoding in encodings]
    per_example: list[int] = []
    start = 0
    for example in examples:
        end = start + len(example.segments)
        per_example.append(sum(lengths[start:end]) + 1)
        start = end
    train, val = split_examples(per_example, val_fraction, seed)
    training_tokens = round(sum(train) * epochs)
    ordered = sorted(per_example)
    return DatasetStats(
        examples=len(examples),
        total_tokens=sum(per_example),
        min_tokens=ordered[0] if ordered else 0,
        max_tokens=ordered[-1] if ordered else 0,
        mean_tokens=statistics.fmean(ordered) if ordered else 0.0,
        median_tokens=float(statistics.median(ordered)) if ordered else 0.0,
        p5_tokens=nearest_rank(ordered, 5),
        p95_tokens=nearest_rank(ordered, 95),
        over_block_size=sum(1 for count in per_example if count > block_size),
        trained_tokens=_trained_tokens(examples, lengths, flags),
        block_size=block_size,
        epochs=epochs,
        train_examples=len(train),
        val_examples=len(val),
        train_tokens=sum(train),
        training_tokens=training_tokens,
        estimated_seconds=training_tokens / tokens_per_s if tokens_per_s else None,
        length_histogram=length_histogram(per_example),
    )


def _trained_tokens(examples: list[Example], lengths: list[int], flags: list[bool]) -> int:
    in_segments = sum(n for n, trained in zip(lengths, flags, strict=True) if trained)
    # Every valid example has a non-blank trained segment, so each one's EOS is trained.
    return in_segments + sum(1 for example in examples if example.trained_text)


HISTOGRAM_BINS = 20


def length_histogram(lengths: list[int], bins: int = HISTOGRAM_BINS) -> dict[str, list[int]]:
    """Equal-width, right-closed bins from the shortest to the longest (module docstring)."""
    if not lengths:
        return {"edges": [0], "counts": []}
    start = min(lengths) - 1
    span = max(lengths) - start
    width = max(1, math.ceil(span / bins))
    counts = [0] * math.ceil(span / width)
    for length in lengths:
        counts[(length - start - 1) // width] += 1
    return {"edges": [start + i * width for i in range(len(counts) + 1)], "counts": counts}


def nearest_rank(ordered: list[int], percent: float) -> int:
    """The nearest-rank percentile of sorted values (0 for no values)."""
    if not ordered:
        return 0
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no speed measured yet)"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
