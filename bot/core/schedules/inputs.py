"""What the data-hungry policies read: eval loss from a worker process (metric) and a
few unseen examples (llm). Neither runs in the event loop's thread."""

from __future__ import annotations

import asyncio
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from storage.datasets import DatasetRow
    from storage.registry import ModelRow
    from trainer.evaluate import EvalResult

MAX_EVAL_EXAMPLES = 200  # the metric policy's loss is measured on at most this many


class EvalWorker:
    """One spawned process, started on first use, that computes eval losses with torch."""

    def __init__(self, max_examples: int = MAX_EVAL_EXAMPLES) -> None:
        self.max_examples = max_examples
        self._executor: ProcessPoolExecutor | None = None

    async def measure(
        self, model: ModelRow, dataset: DatasetRow, trained_on: DatasetRow | None
    ) -> EvalResult:
        """The eval loss of a local model on the newest (preferably unseen) examples."""
        from trainer.evaluate import eval_loss

        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor

            from trainer.procs import worker_context

            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=worker_context())
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor,
                eval_loss,
                model.path,
                dataset.path,
                dataset.format,
                trained_on.path if trained_on else None,
                self.max_examples,
            )
        except BrokenProcessPool:
            self._executor = None  # the worker died (out of memory?): a fresh one next time
            raise RuntimeError("the evaluation worker process died") from None

    def stop(self) -> None:
        """End the process (a measurement in flight is abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


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
