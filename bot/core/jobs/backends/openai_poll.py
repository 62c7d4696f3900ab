"""Drive remote jobs: upload and create at the API, then poll and mirror until they end.

One asyncio task per job. Each poll reads the job's status and its new events at the
API; the events are mirrored into Trainbot's (`bot.core.openai.events`), then the
status is followed. The remote id is stored as soon as the API has created the job, and
the last mirrored API event id (`spec["cursor"]`) after each poll, so a restart polls the
same job again without repeating events. State changes go through the `JobLedger` under
its lock, like those of local jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from pathlib import Path
from typing import Any

import openai

from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.states import ACTIVE, FINAL
from bot.core.models import ModelService
from bot.core.openai.client import TRANSIENT_ERRORS, OpenAIClient, api_message
from bot.core.openai.events import WAITING, mirrored, result_metrics
from bot.core.openai.remote import RemoteEvent, RemoteJob
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.jobs import JobRow

log = get_logger(__name__)
S = JobStatus
POLLED = frozenset({S.VALIDATING_FILES, S.RUNNING})


class OpenAIPoller:
    """The tasks that move remote jobs along; `OpenAIBackend` starts and stops them."""

    def __init__(
        self, ledger: JobLedger, models: ModelService, api: OpenAIClient, poll_interval_s: float
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.lock = ledger.lock
        self.models = models
        self.api = api
        self.poll_interval_s = poll_interval_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, job_id: str) -> None:
        """Drive a job (once: a job already driven is left as it is)."""
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._drive(job_id), name=f"openai-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(functools.partial(self._forget, job_id))

    async def stop(self) -> None:
        """Stop every task; the jobs go on at the API."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def change(self, job: JobRow, status: JobStatus, **fields: Any) -> JobRow:
        """A state change; a job still validating passes RUNNING on its way to a later state."""
        if job.status == S.VALIDATING_FILES and status in (S.SUCCEEDED, S.PAUSED):
            job = await self.ledger.transition(job, S.RUNNING)
        return await self.ledger.transition(job, status, **fields)

    async def _fail(self, job_id: str, error: str) -> None:
        async with self.lock:
            job = await self._current(job_id)
            if job.status in ACTIVE:
                await self.change(job, S.FAILED, error=error)

    async def _current(self, job_id: str) -> JobRow:
        return await self.ledger.current(job_id)

    # -- driving one job --------------------------------------------------------------

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    async def _drive(self, job_id: str) -> None:
        try:
            job = await self._current(job_id)
            if job.remote_id is None and not await self._create(job_id):
                return
            await self._poll(job_id)
        except Exception as exc:  # a bug must fail the job, not leave it running forever
            log.exception("remote job driver failed", job_id=job_id)
            await self._fail(job_id, f"internal error: {exc}")

    async def _create(self, job_id: str) -> bool:
        """Upload the training file and create the job at the API; False when it ended."""
        async with self.lock:
            job = await self._current(job_id)
            # Already validating without a remote id: a previous process may have created
            # the job at OpenAI and died before saving its id. Look before creating twice.
            again = job.status == S.VALIDATING_FILES
            if job.status == S.QUEUED:
                job = await self.change(job, S.VALIDATING_FILES, reason="uploading to OpenAI")
            elif not again:
                return False
        spec = job.spec
        try:
            remote = await self.api.find_job(job_id) if again else None
            if remote is not None:
                created = f"OpenAI job {remote.id} found (created before the restart)"
            else:
                data = await asyncio.to_thread(Path(spec["training_file"]).read_bytes)
                file_id = await self.api.upload(f"trainbot-{job_id}.jsonl", data)
                remote = await self.api.create_job(
                    model=spec["model"],
                    training_file=file_id,
                    suffix=spec.get("suffix"),
                    hyperparameters=spec.get("hyperparameters") or {},
                    seed=spec.get("seed"),
                    trainbot_job=job_id,
                )
                created = f"OpenAI job {remote.id} created (training file {file_id})"
        except openai.APIError as exc:
            await self._fail(job_id, f"OpenAI did not start the job: {api_message(exc)}")
            return False
        async with self.lock:
            await self.store.jobs.update(job_id, remote_id=remote.id)
            if (await self._current(job_id)).status in FINAL:
                # Cancelled while uploading: do not leave it training (and billing) there.
                with contextlib.suppress(openai.APIError):
                    await self.api.cancel(remote.id)
                return False
            await self.ledger.log(job_id, created)
        return True

    async def _poll(self, job_id: str) -> None:
        """Mirror the API's events and status until the job ends or pauses."""
        while True:
            job = await self._polled(job_id)
            if job is None or job.remote_id is None:
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
                async with self.lock:
                    job = await self._current(job_id)
                    # Paused and resumed meanwhile: what was read may be stale; read again.
                    if job.status == S.QUEUED:
                        continue
                    if job.status not in POLLED:
                        return
                    await self._mirror(job, events)
                    if await self._apply(job, remote):
                        return
            await asyncio.sleep(self.poll_interval_s)

    async def _polled(self, job_id: str) -> JobRow | None:
        """The job if it is to be polled (a resumed one first goes on), else None."""
        async with self.lock:
            job = await self._current(job_id)
            if job.status == S.QUEUED and job.remote_id is not None:  # resumed
                job = await self.change(job, S.VALIDATING_FILES, reason="resumed at OpenAI")
            return job if job.status in POLLED else None

    async def _mirror(self, job: JobRow, events: list[RemoteEvent]) -> None:
        for event in events:
            name, data = mirrored(event)
            await self.ledger.bus.publish(job.id, name, data)
        if events:
            await self.store.jobs.update(job.id, spec={**job.spec, "cursor": events[-1].id})

    async def _apply(self, job: JobRow, remote: RemoteJob) -> bool:
        """Follow the API's status; True when polling is over."""
        if remote.status in WAITING:
            return False
        if remote.status == S.RUNNING:
            if job.status == S.VALIDATING_FILES:
                await self.change(job, S.RUNNING, reason="running at OpenAI")
            return False
        if remote.status == S.SUCCEEDED:
            await self._succeeded(job, remote)
        elif remote.status == S.FAILED:
            error = remote.error or "OpenAI reported a failure without a reason"
            await self.change(job, S.FAILED, error=error)
        elif remote.status == S.CANCELLED:
            await self.change(job, S.CANCELLED, reason="cancelled at OpenAI")
        elif remote.status == S.PAUSED:
            await self.change(job, S.PAUSED, reason="paused at OpenAI")
        else:
            log.warning("unknown remote job status", job_id=job.id, status=remote.status)
            return False
        return True

    async def _succeeded(self, job: JobRow, remote: RemoteJob) -> None:
        if not remote.fine_tuned_model:
            await self.change(job, S.FAILED, error="OpenAI reported success but no model id")
            return
        last = await self.store.events.last(job.id, "progress")
        duration = time.time() - job.started_at if job.started_at else None
        metrics = result_metrics(last, remote.trained_tokens, duration)
        # A restart between registering and the state change must not register twice.
        known = [m for m in await self.models.versions(job.name) if m.job_id == job.id]
        model = (
            known[0]
            if known
            else await self.models.register_remote(
                name=job.name,
                job_id=job.id,
                dataset_id=job.dataset_id,
                base=job.base,
                remote_id=remote.fine_tuned_model,
                metrics=metrics,
            )
        )
        result = {
            **metrics,
            "model": model.label,
            "model_id": model.id,
            "remote_model": remote.fine_tuned_model,
        }
        await self.change(
            job, S.SUCCEEDED, model_id=model.id, result=result, reason=f"registered {model.label}"
        )
