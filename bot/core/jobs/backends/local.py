"""Drive local jobs: hand queued jobs to the training pool and record what the workers report.

The dispatcher takes the oldest queued local job whenever a slot is free, checks its
dataset, starts a worker (`trainer.pool`), and turns the worker's events into job events
and state changes; a finished run registers its model. State changes go through the job
service's `_transition` under its lock (`bind`), like those of remote jobs.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.events import EventBus
from bot.core.jobs.states import ACTIVE
from bot.core.models import ModelService
from bot.logs import get_logger
from storage.jobs import JobRow
from storage.store import Store
from trainer.spec import TrainSpec

log = get_logger(__name__)
Transition = Callable[..., Awaitable[JobRow]]


@dataclass(frozen=True)
class JobSettings:
    """The `[trainer]` values the job service needs."""

    max_concurrent_jobs: int = 1
    max_queue_length: int = 100
    stop_grace_s: float = 30.0
    min_examples: int = 10
    default_base: str = "tiny"
    device: str = "auto"
    report_to: str = "none"


class LocalDriver:
    """The dispatcher and one task per running local job."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        models: ModelService,
        pool: Any,
        settings: JobSettings,
    ) -> None:
        self.store = store
        self.bus = bus
        self.models = models
        self.pool = pool
        self.settings = settings
        self._transition: Transition | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._runs: dict[str, Any] = {}  # job id -> TrainingRun
        self._tasks: dict[str, asyncio.Task[None]] = {}  # job id -> task driving it
        self._pending_control: dict[str, str] = {}  # job id -> "cancel" | "pause"
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False

    def bind(self, transition: Transition, lock: asyncio.Lock) -> None:
        """Share the job service's state changes and lock."""
        self._transition = transition
        self._lock = lock

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
                async with self._lock:
                    # Remote jobs are driven by `RemoteJobs` and take no local slot.
                    queued = [
                        job
                        for job in await self.store.jobs.with_status("queued")
                        if job.backend == "local"
                    ]
                    if not queued or self._stopping:
                        break
                    job = await self._change(queued[0], "validating_files")
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
        except Exception as exc:  # a bug must fail the job, not leave it "running" forever
            log.exception("job driver failed", job_id=job.id)
            current = await self.store.jobs.get(job.id)
            if current and current.status in ACTIVE:
                await self._change(current, "failed", error=f"internal error: {exc}")

    async def _drive_unguarded(self, job: JobRow) -> None:
        from trainer.data import read_dataset

        spec = TrainSpec.from_dict(job.spec)
        try:
            report = await asyncio.to_thread(read_dataset, spec.dataset_path, spec.data)
        except OSError as exc:
            await self._change(job, "failed", error=f"dataset file unreadable: {exc}")
            return
        if not report.ok:
            await self._change(job, "failed", error=report.summary())
            return
        async with self._lock:
            current = await self.store.jobs.get(job.id)
            if current is None or current.status != "validating_files":
                return  # cancelled meanwhile
            job = await self._change(current, "running")
            run = await self.pool.start(spec)
            self._runs[job.id] = run
            pending = self._pending_control.pop(job.id, None)
            if pending == "cancel":
                run.cancel()
            elif pending == "pause":
                run.pause()
        async for event in run.events():
            await self._record(job, spec, dict(event))
        await self._wait_exit(run)
        final = await self._current(job)
        # Only once the worker is gone: it may still be cleaning up after its last event.
        if final.status == "cancelled":
            self.store.artifacts.remove(self.store.artifacts.job_dir(job.id))
        elif final.status == "succeeded":
            self.store.artifacts.remove(self.store.artifacts.checkpoint_dir(job.id))

    async def _wait_exit(self, run: Any) -> None:
        deadline = time.monotonic() + self.settings.stop_grace_s + 5
        # The pool reports the final event, not the exit itself; poll the exit code briefly.
        while run.exitcode is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _record(self, job: JobRow, spec: TrainSpec, event: dict[str, Any]) -> None:
        name = str(event.pop("event"))
        await self.bus.publish(job.id, name, event)
        if name == "completed":
            await self._succeeded(job, spec, event)
        elif name == "failed":
            await self._change(await self._current(job), "failed", error=event.get("error"))
        elif name == "stopped":
            await self._stopped(job, event)

    async def _current(self, job: JobRow) -> JobRow:
        current = await self.store.jobs.get(job.id)
        assert current is not None
        return current

    async def _succeeded(self, job: JobRow, spec: TrainSpec, event: dict[str, Any]) -> None:
        metrics = dict(event.get("metrics") or {})
        model = await self.models.register_local(
            name=job.name,
            job_id=job.id,
            dataset_id=job.dataset_id,
            base=job.base,
            output_dir=Path(event.get("model_dir") or spec.output_dir),
            metrics=metrics,
        )
        await self._change(
            await self._current(job),
            "succeeded",
            model_id=model.id,
            result={**metrics, "model": model.label, "model_id": model.id},
            reason=f"registered {model.label}",
        )

    async def _stopped(self, job: JobRow, event: dict[str, Any]) -> None:
        current = await self._current(job)
        resume = self.has_checkpoint(job.id)
        if event.get("reason") == "cancel":
            await self._change(current, "cancelled", reason="cancelled")
        elif self._stopping:
            # Paused by a service stop: back to the queue, so the next start resumes it.
            spec = {**current.spec, "resume": resume}
            await self._change(current, "queued", spec=spec, reason="service stopping")
        else:
            spec = {**current.spec, "resume": resume}
            step = event.get("step")
            await self._change(current, "paused", spec=spec, reason=f"paused at step {step}")

    async def _change(self, job: JobRow, status: str, **fields: Any) -> JobRow:
        assert self._transition is not None, "bind() was not called"
        return await self._transition(job, status, **fields)
