"""The seams of the core: what a training backend and a pool of training runs must offer.

`JobService` drives every job through a `TrainingBackend` picked by name from its
registry; the backends write jobs only through the `JobLedger` they are built with.
`LocalBackend` runs jobs in worker processes through a `RunPool` (`trainer.workers.pool`);
`OpenAIBackend` drives fine-tuning jobs at the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control
from storage.jobs import JobRow
from trainer.events import TrainEvent
from trainer.spec import TrainSpec


class TrainingRun(Protocol):
    """One training worker: its events until a final one, stop requests, its exit."""

    def events(self) -> AsyncIterator[TrainEvent]:
        """Every event, ending with a final one (`completed`, `failed` or `stopped`)."""
        ...

    def pause(self) -> None:
        """Stop at the next step after writing a checkpoint (ends with `stopped`)."""
        ...

    def cancel(self) -> None:
        """Stop at the next step without a checkpoint (ends with `stopped`)."""
        ...

    def kill(self) -> None:
        """End the worker at once (SIGKILL)."""
        ...

    @property
    def exitcode(self) -> int | None:
        """The worker's exit code, None while it lives."""
        ...


class RunPool(Protocol):
    """Starts training runs; stops every one at shutdown."""

    async def start(self, spec: TrainSpec) -> TrainingRun:
        """A started worker training `spec`."""
        ...

    async def shutdown(self) -> None:
        """Stop every run (grace period, then kill)."""
        ...


class TrainingBackend(Protocol):
    """Where jobs train: validates requests, stores them queued, drives them to an end.

    The job service calls `control` under the ledger's lock, after checking that the
    state machine allows the action; a backend changes states only through the ledger.
    """

    @property
    def name(self) -> str:
        """What `JobRequest.backend` and `JobRow.backend` say ("local", "openai")."""
        ...

    @property
    def queues(self) -> bool:
        """Whether its jobs wait in Trainbot's queue (`trainer.max_queue_length` applies)."""
        ...

    @property
    def ready(self) -> bool:
        """Whether it is driving jobs (readiness checks)."""
        ...

    async def recover(self) -> None:
        """After a restart: put its interrupted jobs back on their way (before `start`)."""
        ...

    async def start(self) -> None:
        """Start driving jobs."""
        ...

    async def stop(self) -> None:
        """Stop driving jobs so that the next `recover` continues them."""
        ...

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Check the request and store the job as queued (through the ledger)."""
        ...

    async def control(self, job: JobRow, action: Control) -> JobRow:
        """Cancel, pause, or resume (from its checkpoint) one of its jobs."""
        ...
