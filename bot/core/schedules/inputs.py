"""What the llm policy reads: a few examples the model has not seen, read in a thread.

(The metric policy's eval loss comes from a worker process: `trainer.workers.eval`.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.datasets import DatasetRow


async def unseen_examples(
    dataset: DatasetRow, trained_on: DatasetRow | None, count: int
) -> list[str]:
    """The last `count` example texts of `dataset` that `trained_on` lacks ([] on OS errors)."""
    try:
        return await asyncio.to_thread(_unseen, dataset, trained_on, count)
    except OSError:  # a file went missing: the policy decides without samples
        return []


def _unseen(dataset: DatasetRow, trained_on: DatasetRow | None, count: int) -> list[str]:
    from trainer.data import read_dataset
    from trainer.spec import DataOptions

    options = DataOptions(format=dataset.format, skip_invalid=True)
    texts = [e.text for e in read_dataset(dataset.path, options).examples]
    if trained_on is not None and Path(trained_on.path).is_file():
        old = DataOptions(format=trained_on.format, skip_invalid=True)
        seen = {e.text for e in read_dataset(trained_on.path, old).examples}
        texts = [t for t in texts if t not in seen]
    return texts[-count:]
