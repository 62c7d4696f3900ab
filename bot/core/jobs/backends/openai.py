"""Fine-tuning at OpenAI: submit, control, and pick up after a restart.

A remote job is an asyncio task (`bot.core.jobs.backends.openai_poll`), not a worker process,
and takes no local training slot. Its statuses follow the API's::

    queued → validating_files (upload; OpenAI validates and queues) → running
           → succeeded (a model version is registered) | failed (the API's reason) | cancelled
    running → paused → queued (resume) → validating_files → running …

The dataset is converted and checked against OpenAI's rules at submit, before anything
is uploaded (`trainer.openai_format`); cancel, pause and resume are the API's calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import openai

from bot.core.datasets import DatasetService
from bot.core.errors import Conflict, Invalid, NotFound, Unavailable
from bot.core.jobs.backends.openai_poll import OpenAIPoller
from bot.core.jobs.hyperparameters import refuse_method
from bot.core.jobs.ledger import JobLedger, NewJob
from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control
from bot.core.models import ModelService
from bot.core.naming import check_name
from bot.core.openai.client import TRANSIENT_ERRORS, OpenAIClient, api_message
from bot.core.openai.options import parse_remote_options
from bot.core.openai.remote import RemoteJob
from bot.core.types import JobStatus
from storage.datasets import DatasetRow
from storage.ids import new_id
from storage.jobs import JobRow
from trainer.openai_format import OpenAIDataset, convert_report
from trainer.spec import PRESETS, DataOptions

TRAINING_FILE = "openai-train.jsonl"
S = JobStatus


@dataclass(frozen=True)
class RemoteSettings:
    """The `[openai]` values remote jobs need."""

    fine_tune_model: str = "gpt-4o-mini-2024-07-18"
    poll_interval_s: float = 30.0


class OpenAIBackend:
    """`backend="openai"`: fine-tuning jobs at the OpenAI API."""

    name = "openai"
    queues = False  # uploaded at once; OpenAI queues them on its side
    ready = True  # each job's poller runs on its own

    def __init__(
        self,
        ledger: JobLedger,
        datasets: DatasetService,
        models: ModelService,
        api: OpenAIClient,
        settings: RemoteSettings,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.datasets = datasets
        self.models = models
        self.api = api
        self.settings = settings
        self.poller = OpenAIPoller(ledger, models, api, settings.poll_interval_s)

    async def recover(self) -> None:
        """Poll remote jobs that were active when the service last stopped."""
        for job in await self.ledger.with_status(
            self.name, S.QUEUED, S.VALIDATING_FILES, S.RUNNING
        ):
            how = (
                f"polling OpenAI job {job.remote_id}"
                if job.remote_id
                else "looking for its OpenAI job or creating it"
            )
            await self.ledger.log(job.id, f"service restarted; {how} again")
            self.poller.start(job.id)

    async def start(self) -> None:
        """Nothing to start: each job's poller starts with it (or with `recover`)."""

    async def stop(self) -> None:
        """Stop polling; the jobs go on at OpenAI and the next start polls them again."""
        await self.poller.stop()

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Convert and check the dataset, store the job as queued, start driving it."""
        refuse_method(request.method, self.name)
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
        spec = {
            "backend": self.name,
            "model": model,
            "training_file": str(path),
            "examples": len(converted.rows),
            "estimated_tokens": converted.estimated_tokens,
            **options.to_dict(),
            "cursor": None,
        }
        new = NewJob(job_id, name, self.name, dataset.id, base_ref, spec, requested_by, room_id)
        announce = {
            "position": 1,
            "estimate_s": None,
            "dataset": dataset.label,
            "base": base_ref,
            "backend": self.name,
            "examples": len(converted.rows),
            "estimated_tokens": converted.estimated_tokens,
        }
        job = await self.ledger.insert(new, announce)
        self.poller.start(job_id)
        return job

    async def control(self, job: JobRow, action: Control) -> JobRow:
        """Cancel, pause or resume at the API (the caller holds the lock and checked the state)."""
        if action == "cancel":
            if job.remote_id is not None:  # without one, the poller cancels once it has one
                await self._call("cancel", self.api.cancel, job.remote_id)
            return await self.poller.change(job, S.CANCELLED, reason="cancelled at OpenAI")
        if action == "pause":
            if job.status != S.RUNNING or job.remote_id is None:
                state = job.status.label
                raise Conflict(f"cannot pause this job: OpenAI pauses running jobs only ({state})")
            await self._call("pause", self.api.pause, job.remote_id)
            return await self.poller.change(job, S.PAUSED, reason="paused at OpenAI")
        if job.remote_id is not None:
            await self._call("resume", self.api.resume, job.remote_id)
        job = await self.poller.change(job, S.QUEUED, reason="resumed at OpenAI")
        self.poller.start(job.id)
        return job

    async def _call(
        self, action: str, call: Callable[[str], Awaitable[RemoteJob]], remote_id: str
    ) -> RemoteJob:
        try:
            return await call(remote_id)
        except TRANSIENT_ERRORS as exc:
            raise Unavailable(
                f"OpenAI is not answering ({api_message(exc)}); try again in a moment"
            ) from None
        except openai.APIError as exc:
            raise Conflict(f"OpenAI refused to {action} the job: {api_message(exc)}") from None

    async def _base(self, base: str | None) -> tuple[str, str]:
        """(what the job records, the model the API fine-tunes)."""
        if not base:
            return self.settings.fine_tune_model, self.settings.fine_tune_model
        if base in PRESETS:
            raise Invalid(
                f"{base!r} is a local preset; OpenAI fine-tunes its own models "
                f"(e.g. {self.settings.fine_tune_model})"
            )
        try:
            model = await self.models.resolve(base)
        except NotFound:
            return base, base  # an OpenAI model name; the API says if it does not know it
        if model.backend != "openai" or not model.remote_id:
            raise Invalid(f"{model.label} is a local model and cannot be a base at OpenAI")
        return model.id, model.remote_id


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
