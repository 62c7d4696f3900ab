"""Eval losses in a worker process forked on first use (the metric retraining policy).

The parent side (`EvalWorker`) is asyncio and torch-free; the child
(`eval_worker_main`) runs `trainer.evaluate.eval_loss` for one request at a time. A
child that dies fails the measurement with a readable error, and the next one forks a
fresh child.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Protocol

from trainer.evaluate import EvalResult
from trainer.workers.server import ServingWorker, WorkerError, serve

MAX_EVAL_EXAMPLES = 200  # the metric policy's loss is measured on at most this many


class ModelFolder(Protocol):
    """A trained model on disk (a registry row, for one)."""

    @property
    def path(self) -> str: ...


class DatasetFile(Protocol):
    """A dataset file and its format (a dataset row, for one)."""

    @property
    def path(self) -> str: ...

    @property
    def format(self) -> str: ...


EvalRequest = tuple[str, str, str | None, str | None, int]  # eval_loss's arguments


class EvalWorker:
    """One worker process, forked on first use, that computes eval losses with torch."""

    def __init__(self, max_examples: int = MAX_EVAL_EXAMPLES) -> None:
        self.max_examples = max_examples
        self._server = ServingWorker(eval_worker_main, (), name="trainbot-eval", task="evaluation")

    @property
    def pid(self) -> int | None:
        """The current child's process id (None before the first measurement)."""
        return self._server.pid

    async def measure(
        self, model: ModelFolder, dataset: DatasetFile, trained_on: DatasetFile | None
    ) -> EvalResult:
        """The eval loss of a local model on the newest (preferably unseen) examples."""
        request: EvalRequest = (
            model.path,
            dataset.path,
            dataset.format,
            trained_on.path if trained_on else None,
            self.max_examples,
        )
        try:
            result, _ = await self._server.request(request)
        except WorkerError as exc:
            raise RuntimeError(str(exc)) from None
        assert isinstance(result, EvalResult)
        return result

    def stop(self) -> None:
        """End the process now (a measurement in flight is abandoned)."""
        self._server.close()


# ---- child side ---------------------------------------------------------------------


def eval_worker_main(conn: Connection) -> None:
    """Measure eval losses for the requests from `conn` until it closes or a None arrives."""
    from trainer.workers.process import prepare_child

    prepare_child(0)  # torch's own thread count: the parent waits for the answer
    from trainer.evaluate import eval_loss

    def handle(request: object) -> EvalResult:
        assert isinstance(request, tuple)  # an EvalRequest
        return eval_loss(*request)

    serve(conn, handle)
