"""Fine-tuning at OpenAI: submit, drive (upload, create, poll), control, pick up after a restart.

A remote job is an asyncio task, not a worker process, and takes no local training slot.
Its statuses follow the API's::

    queued → validating_files (upload; OpenAI validates and queues) → running
           → succeeded (a model version is registered) | failed (the API's reason) | cancelled
    running → paused → queued (resume) → validating_files → running …

The dataset is converted and checked against OpenAI's rules at submit, before anything
is uploaded (`trainer.openai_format`). The remote id is stored as soon as the API has
created the job, and the last mirrored API event id (`spec["cursor"]`) after each poll,
so a restart polls the same job again without repeating events. State changes happen
under the job service's lock, like those of local jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai

from bot.logs import get_logger
from bot.services.datasets import DatasetService
from bot.services.errors import Conflict, Invalid, NotFound, Unavailable
from bot.services.events import EventBus
from bot.services.models import ModelService
from bot.services.openai_api import (
    TRANSIENT_ERRORS,
    OpenAIBackend,
    RemoteJob,
    api_message,
)
from bot.services.refs import check_name
from bot.services.remote_events import WAITING, mirrored, result_metrics
from bot.services.remote_options import parse_remote_options
from bot.services.transitions import ACTIVE, FINAL
from storage.datasets import DatasetRow
from storage.ids import new_id
from storage.jobs import JobRow
from storage.store import Store
from trainer.openai_format import OpenAIDataset, convert_report
from trainer.spec import PRESETS, DataOptions

if TYPE_CHECKING:
    from bot.services.jobs import JobRequest

log = get_logger(__name__)

Transition = Callable[..., Awaitable[JobRow]]
TRAINING_FILE = "openai-train.jsonl"
POLLED = frozenset({"validating_files", "running"})


@dataclass(frozen=True)
class RemoteSettings:
    """The `[openai]` values remote jobs need."""

    fine_tune_model: str = "gpt-4o-mini-2024-07-18"
    poll_interval_s: float = 30.0


class RemoteJobs:
    """The `backend="openai"` half of the job service."""

    def __init__(
        self, store: Store, bus: EventBus, datasets: DatasetService, models: ModelService,
        api: OpenAIBackend, settings: RemoteSettings,
    ) -> None:  # fmt: skip
        self.store = store
        self.bus = bus
        self.datasets = datasets
        self.models = models
        self.api = api
        self.settings = settings
        self._transition: Transition | None = None
        self._lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def bind(self, transition: Transition, lock: asyncio.Lock) -> None:
        """Share the job service's state changes and lock (it calls this once)."""
        self._transition = transition
        self._lock = lock

    async def start(self) -> None:
        """Pick up remote jobs that were active when the service last stopped."""
        for job in await self.store.jobs.with_status("queued", "validating_files", "running"):
            if job.backend == "openai":
                how = f"polling OpenAI job {job.remote_id}" if job.remote_id else "uploading"
                await self._log(job.id, f"service restarted; {how} again")
                self._start(job.id)

    async def stop(self) -> None:
        """Stop polling; the jobs go on at OpenAI and the next start polls them again."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Convert and check the dataset, store the job as `queued`, start driving it."""
        dataset = await self.datasets.resolve(request.dataset)
        name = check_name(request.name or dataset.name, "model")
        options = parse_remote_options(request.hyperparameters or {}, name)
        base_ref, model = await self._base(request.base)
        converted = await asyncio.to_thread(_convert, dataset, model)
        if not converted.ok:
            raise Invalid(converted.summary(dataset.label), details=converted.to_dict())
        job_id = new_id()
        path = self.store.artifacts.job_dir(job_id) / TRAINING_FILE
        await asyncio.to_thread(_write, path, converted.jsonl())
        spec = {"backend": "openai", "model": model, "training_file": str(path),
                "examples": len(converted.rows), "estimated_tokens": converted.estimated_tokens,
                **options.to_dict(), "cursor": None}  # fmt: skip
        now = time.time()
        job = JobRow(
            id=job_id, name=name, status="queued", backend="openai", dataset_id=dataset.id,
            base=base_ref, spec=spec, requested_by=requested_by, room_id=room_id, result=None,
            error=None, model_id=None, created_at=now, started_at=None, finished_at=None,
            updated_at=now, progress_event_id=None, remote_id=None,
        )  # fmt: skip
        await self.store.jobs.insert(job)
        await self.bus.publish(job_id, "state", {
            "status": "queued", "position": 1, "estimate_s": None, "dataset": dataset.label,
            "base": base_ref, "backend": "openai", "examples": len(converted.rows),
            "estimated_tokens": converted.estimated_tokens,
        })  # fmt: skip
        self._start(job_id)
        return job

    async def control(self, job: JobRow, action: str) -> JobRow:
        """Cancel, pause or resume at the API (the caller holds the lock and checked the state)."""
        if action == "cancel":
            if job.remote_id is not None:  # without one, the driver cancels once it has one
                await self._call("cancel", self.api.cancel, job.remote_id)
            return await self._change(job, "cancelled", reason="cancelled at OpenAI")
        if action == "pause":
            if job.status != "running" or job.remote_id is None:
                state = job.status.replace("_", " ")
                raise Conflict(f"cannot pause this job: OpenAI pauses running jobs only ({state})")
            await self._call("pause", self.api.pause, job.remote_id)
            return await self._change(job, "paused", reason="paused at OpenAI")
        if job.remote_id is not None:
            await self._call("resume", self.api.resume, job.remote_id)
        job = await self._change(job, "queued", reason="resumed at OpenAI")
        self._start(job.id)
        return job

    # -- driving one job --------------------------------------------------------------

    def _start(self, job_id: str) -> None:
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._drive(job_id), name=f"openai-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(functools.partial(self._forget, job_id))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    async def _drive(self, job_id: str) -> None:
        try:
            job = await self._current(job_id)
            if job.remote_id is None and not await self._create(job_id):
                return
            if job.remote_id is not None and job.status == "queued":  # resumed
                async with self._lock:
                    job = await self._current(job_id)
                    if job.status == "queued":
                        await self._change(job, "validating_files", reason="resumed at OpenAI")
            await self._poll(job_id)
        except Exception as exc:  # a bug must fail the job, not leave it "running" forever
            log.exception("remote job driver failed", job_id=job_id)
            await self._fail(job_id, f"internal error: {exc}")

    async def _create(self, job_id: str) -> bool:
        """Upload the training file and create the job at the API; False when it ended."""
        async with self._lock:
            job = await self._current(job_id)
            if job.status == "queued":
                job = await self._change(job, "validating_files", reason="uploading to OpenAI")
            elif job.status != "validating_files":
                return False
        spec = job.spec
        try:
            data = await asyncio.to_thread(Path(spec["training_file"]).read_bytes)
            file_id = await self.api.upload(f"trainbot-{job_id}.jsonl", data)
            remote = await self.api.create_job(
                model=spec["model"], training_file=file_id, suffix=spec.get("suffix"),
                hyperparameters=spec.get("hyperparameters") or {}, seed=spec.get("seed"),
            )  # fmt: skip
        except openai.APIError as exc:
            await self._fail(job_id, f"OpenAI did not start the job: {api_message(exc)}")
            return False
        async with self._lock:
            await self.store.jobs.update(job_id, remote_id=remote.id)
            if (await self._current(job_id)).status in FINAL:
                # Cancelled while uploading: do not leave it training (and billing) there.
                with contextlib.suppress(openai.APIError):
                    await self.api.cancel(remote.id)
                return False
            await self._log(job_id, f"OpenAI job {remote.id} created (training file {file_id})")
        return True

    async def _poll(self, job_id: str) -> None:
        """Mirror the API's events and status until the job ends or pauses."""
        while True:
            job = await self._current(job_id)
            if job.status not in POLLED or job.remote_id is None:
                return
            try:
                remote = await self.api.job(job.remote_id)
                events = await self.api.events_since(job.remote_id, job.spec.get("cursor"))
            except TRANSIENT_ERRORS as exc:  # already retried by the client; try next time
                log.warning("openai poll failed", job_id=job_id, error=api_message(exc))
            except openai.APIError as exc:
                await self._fail(job_id, f"OpenAI: {api_message(exc)}")
                return
            else:
                async with self._lock:
                    job = await self._current(job_id)
                    if job.status not in POLLED:
                        return
                    await self._mirror(job, events)
                    if await self._apply(job, remote):
                        return
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _mirror(self, job: JobRow, events: list[Any]) -> None:
        for event in events:
            name, data = mirrored(event)
            await self.bus.publish(job.id, name, data)
        if events:
            await self.store.jobs.update(job.id, spec={**job.spec, "cursor": events[-1].id})

    async def _apply(self, job: JobRow, remote: RemoteJob) -> bool:
        """Follow the API's status; True when polling is over."""
        if remote.status in WAITING:
            return False
        if remote.status == "running":
            if job.status == "validating_files":
                await self._change(job, "running", reason="running at OpenAI")
            return False
        if remote.status == "succeeded":
            await self._succeeded(job, remote)
        elif remote.status == "failed":
            error = remote.error or "OpenAI reported a failure without a reason"
            await self._change(job, "failed", error=error)
        elif remote.status == "cancelled":
            await self._change(job, "cancelled", reason="cancelled at OpenAI")
        elif remote.status == "paused":
            await self._change(job, "paused", reason="paused at OpenAI")
        else:
            log.warning("unknown remote job status", job_id=job.id, status=remote.status)
            return False
        return True

    async def _succeeded(self, job: JobRow, remote: RemoteJob) -> None:
        if not remote.fine_tuned_model:
            await self._change(job, "failed", error="OpenAI reported success but no model id")
            return
        last = await self.store.events.last(job.id, "progress")
        duration = time.time() - job.started_at if job.started_at else None
        metrics = result_metrics(last, remote.trained_tokens, duration)
        # A restart between registering and the state change must not register twice.
        known = [m for m in await self.models.versions(job.name) if m.job_id == job.id]
        model = known[0] if known else await self.models.register_remote(
            name=job.name, job_id=job.id, dataset_id=job.dataset_id, base=job.base,
            remote_id=remote.fine_tuned_model, metrics=metrics,
        )  # fmt: skip
        result = {**metrics, "model": model.label, "model_id": model.id,
                  "remote_model": remote.fine_tuned_model}  # fmt: skip
        await self._change(job, "succeeded", model_id=model.id, result=result,
                           reason=f"registered {model.label}")  # fmt: skip

    # -- helpers ----------------------------------------------------------------------

    async def _change(self, job: JobRow, status: str, **fields: Any) -> JobRow:
        """A state change; a job still validating passes `running` on its way to a later state."""
        assert self._transition is not None, "bind() was not called"
        if job.status == "validating_files" and status in ("succeeded", "paused"):
            job = await self._transition(job, "running")
        return await self._transition(job, status, **fields)

    async def _fail(self, job_id: str, error: str) -> None:
        async with self._lock:
            job = await self._current(job_id)
            if job.status in ACTIVE:
                await self._change(job, "failed", error=error)

    async def _call(self, action: str, call: Callable[[str], Awaitable[RemoteJob]],
                    remote_id: str) -> RemoteJob:  # fmt: skip
        try:
            return await call(remote_id)
        except TRANSIENT_ERRORS as exc:
            raise Unavailable(f"OpenAI is not answering ({api_message(exc)}); "
                              "try again in a moment") from None  # fmt: skip
        except openai.APIError as exc:
            raise Conflict(f"OpenAI refused to {action} the job: {api_message(exc)}") from None

    async def _base(self, base: str | None) -> tuple[str, str]:
        """(what the job records, the model the API fine-tunes)."""
        if not base:
            return self.settings.fine_tune_model, self.settings.fine_tune_model
        if base in PRESETS:
            raise Invalid(f"{base!r} is a local preset; OpenAI fine-tunes its own models "
                          f"(e.g. {self.settings.fine_tune_model})")  # fmt: skip
        try:
            model = await self.models.resolve(base)
        except NotFound:
            return base, base  # an OpenAI model name; the API says if it does not know it
        if model.backend != "openai" or not model.remote_id:
            raise Invalid(f"{model.label} is a local model and cannot be a base at OpenAI")
        return model.id, model.remote_id

    async def _log(self, job_id: str, message: str) -> None:
        await self.bus.publish(job_id, "log", {"level": "info", "message": message})

    async def _current(self, job_id: str) -> JobRow:
        job = await self.store.jobs.get(job_id)
        assert job is not None
        return job


def _convert(dataset: DatasetRow, model: str) -> OpenAIDataset:
    from trainer.data import read_dataset

    skip = bool(dataset.report.get("skip_invalid"))
    # OpenAI's own minimum is checked by the conversion, whatever the local minimum is.
    options = DataOptions(format=dataset.format, skip_invalid=skip, min_examples=1)
    report = read_dataset(dataset.path, options)
    if not report.ok:
        raise Invalid(report.summary().replace(dataset.path, dataset.label, 1))
    return convert_report(report, model)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
