"""Run local jobs: hand queued jobs to the training pool and record what the workers report.

The dispatcher takes the oldest queued local job whenever a slot is free, checks its
dataset, starts a worker (a `RunPool`, `trainer.workers.pool`), and turns the worker's events
into job events and state changes; a finished run registers its model. The dispatcher's
slot count is the one concurrency limit: a job waiting for a slot stays queued (and can
be cancelled as such) instead of waiting inside the pool with the ledger's lock held.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.states import ACTIVE
from bot.core.models import ModelService
from bot.core.ports import RunPool, TrainingRun
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.jobs import JobRow
from trainer.events import Completed, Stopped, TrainEvent
from trainer.spec import TrainSpec

log = get_logger(__name__)
S = JobStatus


@dataclass(frozen=True)
class JobSettings:
    """The `[trainer]` values local jobs need."""

    max_concurrent_jobs: int = 1
    stop_grace_s: float = 30.0
    min_examples: int = 10
    default_base: str = "tiny"
    device: str = "auto"
    report_to: str = "none"
    base_dirs: tuple[Path, ...] = ()  # folders a base= may name (besides registered models)
    allow_hub: bool = False  # whether a base= may name a Hugging Face hub id
    max_memory_gb: float = 0.0  # a job estimated above it is refused (0: the machine's)
    precision: str = "auto"  # trainer.precision and trainer.compile: every run's
    compile: bool = False  # (jobs.train_spec.run_options)


class LocalRuns:
    """The dispatcher and one task per running local job."""

    def __init__(
        self, ledger: JobLedger, models: ModelService, pool: RunPool, settings: JobSettings
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.models = models
        self.pool = pool
        self.settings = settings
        self._wake = asyncio.Event()
        self._runs: dict[str, TrainingRun] = {}  # job id -> its worker
        self._tasks: dict[str, asyncio.Task[None]] = {}  # job id -> task driving it
        self._pending_control: dict[str, str] = {}  # job id -> "cancel" | "pause"
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start dispatching queued jobs."""
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")
        self._wake.set()

    async def stop(self) -> None:
        """Stop dispatching; pause running jobs at a checkpoint (they go back to the queue)."""
        self._stopping = True
        if self._dispatcher:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        for run in list(self._runs.values()):
            run.pause()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.stop_grace_s + 10)

    def wake(self) -> None:
        """Look at the queue again (a job was queued or a slot freed)."""
        self._wake.set()

    @property
    def dispatching(self) -> bool:
        """Whether the dispatcher is alive."""
        return self._dispatcher is not None and not self._dispatcher.done()

    def control(self, job: JobRow, action: str) -> None:
        """Cancel or pause a validating or running job (at the worker's next step)."""
        run = self._runs.get(job.id)
        if run is None:  # validating files: apply as soon as the worker starts
            self._pending_control[job.id] = action
        elif action == "cancel":
            run.cancel()
        else:
            run.pause()

    def has_checkpoint(self, job_id: str) -> bool:
        """Whether the job saved a checkpoint to resume from."""
        folder = self.store.artifacts.checkpoint_dir(job_id)
        return folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(self._tasks) < self.settings.max_concurrent_jobs:
                async with self.ledger.lock:
                    # Other backends' jobs are driven elsewhere and take no local slot.
                    queued = await self.ledger.with_status("local", S.QUEUED)
                    if not queued or self._stopping:
                        break
                    job = await self.ledger.transition(queued[0], S.VALIDATING_FILES)
                task = asyncio.create_task(self._drive(job), name=f"job-{job.id}")
                self._tasks[job.id] = task
                task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)
        self._runs.pop(job_id, None)
        self._pending_control.pop(job_id, None)
        self._wake.set()

    async def _drive(self, job: JobRow) -> None:
        try:
            await self._drive_unguarded(job)
        except Exception as exc:  # a bug must fail the job, not leave it running forever
            log.exception("job driver failed", job_id=job.id)
            current = await self.store.jobs.get(job.id)
            if current and current.status in ACTIVE:
                await self.ledger.transition(current, S.FAILED, error=f"internal error: {exc}")

    async def _drive_unguarded(self, job: JobRow) -> None:
        spec = TrainSpec.from_dict(job.spec)
        if not await self._dataset_ok(job, spec):
            return
        async with self.ledger.lock:
            current = await self.store.jobs.get(job.id)
            if current is None or current.status != S.VALIDATING_FILES:
                return  # cancelled meanwhile
            job = await self.ledger.transition(current, S.RUNNING)
            run = await self.pool.start(spec)
            self._runs[job.id] = run
            pending = self._pending_control.pop(job.id, None)
            if pending == "cancel":
                run.cancel()
            elif pending == "pause":
                run.pause()
        async for event in run.events():
            await self._record(job, spec, event)
        await self._wait_exit(run)
        final = await self.ledger.current(job.id)
        # Only once the worker is gone: it may still be cleaning up after its last event.
        if final.status == S.CANCELLED:
            self.store.artifacts.remove(self.store.artifacts.job_dir(job.id))
        elif final.status == S.SUCCEEDED:
            self.store.artifacts.remove(self.store.artifacts.checkpoint_dir(job.id))

    async def _dataset_ok(self, job: JobRow, spec: TrainSpec) -> bool:
        """Read the dataset once more before a worker starts; fail the job if it is bad."""
        from trainer.data import read_dataset

        try:
            report = await asyncio.to_thread(read_dataset, spec.dataset_path, spec.data)
        except OSError as exc:
            await self.ledger.transition(job, S.FAILED, error=f"dataset file unreadable: {exc}")
            return False
        if not report.ok:
            await self.ledger.transition(job, S.FAILED, error=report.summary())
            return False
        return True

    async def _wait_exit(self, run: TrainingRun) -> None:
        deadline = time.monotonic() + self.settings.stop_grace_s + 5
        # The pool reports the final event, not the exit itself; poll the exit code briefly.
        while run.exitcode is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        # This task's end frees the job's slot (the one concurrency limit): no worker may
        # outlive it and run beside the next job.
        if run.exitcode is None:
            log.warning("training worker did not exit after its final event; killing it")
            run.kill()

    async def _record(self, job: JobRow, spec: TrainSpec, event: TrainEvent) -> None:
        data: dict[str, Any] = {
            key: self.ledger.public(value) for key, value in event.items() if key != "event"
        }
        await self.ledger.bus.publish(job.id, event["event"], data)
        if event["event"] == "completed":
            await self._succeeded(job, spec, event)
        elif event["event"] == "failed":
            current = await self.ledger.current(job.id)
            await self.ledger.transition(current, S.FAILED, error=event.get("error"))
        elif event["event"] == "stopped":
            await self._stopped(job, event)

    async def _succeeded(self, job: JobRow, spec: TrainSpec, event: Completed) -> None:
        folder = Path(event.get("model_dir") or spec.output_dir)
        await self.ledger.succeed(job, self.models, folder, dict(event.get("metrics") or {}))

    async def _stopped(self, job: JobRow, event: Stopped) -> None:
        current = await self.ledger.current(job.id)
        if event.get("reason") == "cancel":
            await self.ledger.transition(current, S.CANCELLED, reason="cancelled")
            return
        spec = {**current.spec, "resume": self.has_checkpoint(job.id)}
        if self._stopping:
            # Paused by a service stop: back to the queue, so the next start resumes it.
            await self.ledger.transition(current, S.QUEUED, spec=spec, reason="service stopping")
        else:
            reason = f"paused at step {event.get('step')}"
            await self.ledger.transition(current, S.PAUSED, spec=spec, reason=reason)
