"""Dataset formats, validation and token statistics (no torch here: main-process safe).

Read `trainer.data.formats` for the plain templates and `docs/datasets.md` for the user
view. Typical use::

    report = read_dataset("data.jsonl", DataOptions(skip_invalid=True), block_size=128)
    if not report.ok:
        reply(report.summary())
"""

from trainer.data.blocks import estimate_tokens
from trainer.data.detect import detect_format
from trainer.data.formats import (
    CHAT_STOP,
    chat_prompt,
    completion_prompt,
    keyword_prefix,
)
from trainer.data.loader import load_dataset, read_dataset, read_records
from trainer.data.report import DatasetError, DatasetReport, Example, RowError
from trainer.data.split import split_examples, validation_count
from trainer.data.stats import DatasetStats, compute_stats

__all__ = [
    "CHAT_STOP",
    "DatasetError",
    "DatasetReport",
    "DatasetStats",
    "Example",
    "RowError",
    "chat_prompt",
    "completion_prompt",
    "compute_stats",
    "detect_format",
    "estimate_tokens",
    "keyword_prefix",
    "load_dataset",
    "read_dataset",
    "read_records",
    "split_examples",
    "validation_count",
]
