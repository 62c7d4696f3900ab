"""The local backend: jobs train in worker processes on this machine, one queue, FIFO.

A submitted job is checked (hyperparameters, dataset, name, base), stored as queued
with its `TrainSpec`, and waits for a slot of the dispatcher (`local_runs.LocalRuns`).
A job interrupted by a restart or a stop goes back to the queue and resumes from its
newest checkpoint.
"""

from __future__ import annotations

from bot.core.datasets import DatasetService
from bot.core.jobs.backends.local_runs import JobSettings, LocalRuns
from bot.core.jobs.bases import BaseRules, check_fits, resolve_base
from bot.core.jobs.draft import JobDraft
from bot.core.jobs.hyperparameters import parse_hyperparameters, parse_job_method
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control
from bot.core.jobs.train_spec import (
    DatasetInput,
    build_train_spec,
    estimate_seconds,
    run_options,
)
from bot.core.models import ModelService
from bot.core.naming import check_name
from bot.core.ports import RunPool
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.ids import new_id
from storage.jobs import JobRow
from trainer.adapters import base_under
from trainer.spec import TrainSpec

__all__ = ["JobSettings", "LocalBackend"]

log = get_logger(__name__)
S = JobStatus


class LocalBackend:
    """`backend="local"`: the training pool of this machine."""

    name = "local"
    queues = True

    def __init__(
        self,
        ledger: JobLedger,
        datasets: DatasetService,
        models: ModelService,
        pool: RunPool,
        settings: JobSettings,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.datasets = datasets
        self.models = models
        self.settings = settings
        self.runs = LocalRuns(ledger, models, pool, settings)
        self.bases = BaseRules(
            self.store.artifacts.models_root, settings.base_dirs, settings.allow_hub
        )

    @property
    def ready(self) -> bool:
        """Whether the dispatcher is alive."""
        return self.runs.dispatching

    async def recover(self) -> None:
        """Put jobs that were running when the process died back in the queue."""
        for job in await self.ledger.with_status(self.name, S.RUNNING, S.VALIDATING_FILES):
            resume = self.runs.has_checkpoint(job.id)
            spec = {**job.spec, "resume": resume}
            how = "resuming from its newest checkpoint" if resume else "starting over"
            reason = f"service restarted; {how}"
            await self.ledger.transition(job, S.QUEUED, spec=spec, reason=reason)
            log.info("job recovered", job_id=job.id, resume=resume)

    async def start(self) -> None:
        """Start dispatching queued jobs."""
        self.runs.start()

    async def stop(self) -> None:
        """Pause running jobs at a checkpoint; they go back to the queue."""
        await self.runs.stop()

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Check the request, store the job as queued, and wake the dispatcher."""
        hp = parse_hyperparameters(request.hyperparameters or {})
        dataset = await self.datasets.resolve(request.dataset)
        name = check_name(request.name or dataset.name, "model")
        base = request.base or self.settings.default_base
        base_ref, base_path = await resolve_base(base, self.models, self.bases)
        method = parse_job_method(request.method, base_path, self.settings.device, dataset.format)
        quantized = bool(method.lora and method.lora.quantize)
        weights = base_under(base_path) or base_path  # an adapter is sized by its base
        fits = (weights, method.type, quantized, hp.batch_size, hp.block_size)
        check_fits(*fits, self.settings.max_memory_gb)
        draft = await JobDraft.resolve(
            self.name,
            request,
            self.datasets,
            name=name,
            dataset=dataset,
            base_ref=base_ref,
            requested_by=requested_by,
            room_id=room_id,
        )
        validation = draft.validation
        queued = len(await self.store.jobs.with_status(S.QUEUED))
        job_id = new_id()
        spec = build_train_spec(
            DatasetInput.of(dataset),
            output_dir=str(self.store.artifacts.job_output_dir(job_id)),
            checkpoint_dir=str(self.store.artifacts.checkpoint_dir(job_id)),
            base=base_path,
            hyperparameters=hp,
            method=method,
            options=run_options(self.settings),
            job_id=job_id,
            validation_path=validation.path if validation else "",
        )
        new = draft.new_job(job_id, spec.to_dict())
        announce = {
            "position": queued + 1,
            "estimate_s": estimate_seconds(dataset.stats, spec, self._throughput_file),
            "estimate_measured": self._measured(spec),
            "dataset": dataset.label,
            "base": base_ref,
        }
        job = await self.ledger.insert(new, announce)
        self.runs.wake()
        return job

    async def control(self, job: JobRow, action: Control) -> JobRow:
        """Cancel or pause (at the worker's next step), or queue a paused job again."""
        if action == "resume":
            spec = {**job.spec, "resume": self.runs.has_checkpoint(job.id)}
            job = await self.ledger.transition(job, S.QUEUED, spec=spec, reason="resumed")
            self.runs.wake()
            return job
        if job.status in (S.QUEUED, S.PAUSED):
            target = S.CANCELLED if action == "cancel" else S.PAUSED
            return await self.ledger.transition(job, target, reason=f"{action} requested")
        self.runs.control(job, action)
        await self.ledger.log(job.id, f"{action} requested")
        return job

    def _measured(self, spec: TrainSpec) -> bool:
        """Whether the estimate rests on a run measured here (else on built-in figures)."""
        from trainer.throughput import measured_here

        return measured_here(spec.base, self._throughput_file)

    @property
    def _throughput_file(self) -> str:
        return str(self.store.artifacts.throughput_file)
