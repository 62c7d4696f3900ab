"""Training jobs: submit, queue, run in the worker pool, control, recover after a crash.

The database is the truth: a job's status, spec and event history are written before
anything depends on them, so a SIGKILL at any moment leaves a state `recover()` can
continue from (a `running` job goes back to the queue and resumes from its newest
checkpoint).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.datasets import DatasetService
from bot.core.errors import Conflict, Invalid, NotFound, TooMany, Unavailable
from bot.core.events import EventBus
from bot.core.jobs.backends.local import JobSettings, LocalDriver
from bot.core.jobs.hyperparameters import parse_hyperparameters
from bot.core.jobs.states import (
    FINAL,
    check_transition,
    refuse_action,
)
from bot.core.models import ModelService
from bot.core.naming import check_name, pick_prefix
from bot.logs import get_logger
from storage.ids import new_id
from storage.jobs import JobRow
from storage.store import Store
from trainer.spec import DataOptions, TrainSpec

if TYPE_CHECKING:
    from bot.core.jobs.backends.openai import RemoteJobs

log = get_logger(__name__)
NO_OPENAI = "backend=openai needs the [openai] section configured (api_key or api_key_file)"


@dataclass(frozen=True)
class JobRequest:
    """What a person or program asks for; checked by `JobService.submit`."""

    dataset: str
    base: str | None = None
    name: str | None = None
    hyperparameters: dict[str, Any] | None = None
    backend: str = "local"

    def fingerprint(self) -> str:
        """A hash of the request, to tell a retried request from a different one."""
        raw = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()


class JobService:
    """Job lifecycle over the persisted FIFO queue and the training pool."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        datasets: DatasetService,
        models: ModelService,
        pool: Any,
        settings: JobSettings,
        remote: RemoteJobs | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.datasets = datasets
        self.models = models
        self.pool = pool
        self.settings = settings
        self._lock = asyncio.Lock()
        self._accepting = False
        self.local = LocalDriver(store, bus, models, pool, settings)
        self.local.bind(self._transition, self._lock)
        self.remote = remote  # `backend="openai"` jobs; None when [openai] has no key
        if remote is not None:
            remote.bind(self._transition, self._lock)

    # -- life cycle of the service ------------------------------------------------------

    async def start(self) -> None:
        """Recover jobs interrupted by a crash or a stop, then start dispatching."""
        await self.recover()
        if self.remote is not None:
            await self.remote.start()
        self._accepting = True
        self.local.start()

    async def recover(self) -> None:
        """Put local jobs that were running when the process died back in the queue.

        Remote jobs have no local checkpoint: `RemoteJobs.start` polls them again.
        """
        for job in await self.store.jobs.with_status("running", "validating_files"):
            if job.backend != "local":
                continue
            resume = self.local.has_checkpoint(job.id)
            spec = {**job.spec, "resume": resume}
            how = "resuming from its newest checkpoint" if resume else "starting over"
            await self._transition(job, "queued", spec=spec, reason=f"service restarted; {how}")
            log.info("job recovered", job_id=job.id, resume=resume)

    async def stop(self) -> None:
        """Stop taking work; pause running jobs at a checkpoint so the next start resumes them."""
        self._accepting = False
        await self.local.stop()
        if self.remote is not None:
            await self.remote.stop()
        await self.bus.drain()

    # -- requests ---------------------------------------------------------------------

    async def submit(
        self,
        request: JobRequest,
        *,
        requested_by: str,
        room_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> JobRow:
        """Check the request, store the job as `queued`, and wake the dispatcher."""
        if not self._accepting:
            raise Unavailable("the service is shutting down; try again in a moment")
        if idempotency_key:
            previous = await self._idempotent(requested_by, idempotency_key, request)
            if previous:
                return previous
        if request.backend == "openai":
            job = await self._openai().submit(request, requested_by=requested_by, room_id=room_id)
            if idempotency_key:
                await self.store.idempotency.put(
                    requested_by, idempotency_key, request.fingerprint(), job.id
                )
            return job
        if request.backend != "local":
            raise Invalid(f"unknown backend {request.backend!r}: use 'local' or 'openai'")
        hp = parse_hyperparameters(request.hyperparameters or {})
        dataset = await self.datasets.resolve(request.dataset)
        name = check_name(request.name or dataset.name, "model")
        base_ref, base_path = await self._resolve_base(request.base or self.settings.default_base)
        queued = len(await self.store.jobs.with_status("queued"))
        if queued >= self.settings.max_queue_length:
            raise TooMany(f"the queue is full ({queued} jobs waiting); try again later")
        job_id = new_id()
        spec = TrainSpec(
            dataset_path=dataset.path,
            output_dir=str(self.store.artifacts.job_output_dir(job_id)),
            checkpoint_dir=str(self.store.artifacts.checkpoint_dir(job_id)),
            base=base_path,
            hyperparameters=hp,
            data=DataOptions(
                format=dataset.format,
                skip_invalid=bool(dataset.report.get("skip_invalid")),
                min_examples=self.settings.min_examples,
            ),
            report_to=self.settings.report_to,
            job_id=job_id,
            dataset_hash=dataset.sha256,
            device=self.settings.device,
        )
        now = time.time()
        job = JobRow(
            id=job_id,
            name=name,
            status="queued",
            backend="local",
            dataset_id=dataset.id,
            base=base_ref,
            spec=spec.to_dict(),
            requested_by=requested_by,
            room_id=room_id,
            result=None,
            error=None,
            model_id=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            updated_at=now,
            progress_event_id=None,
            remote_id=None,
        )
        await self.store.jobs.insert(job)
        if idempotency_key:
            await self.store.idempotency.put(
                requested_by, idempotency_key, request.fingerprint(), job_id
            )
        estimate = self._estimate(dataset.stats, spec)
        await self.bus.publish(
            job_id,
            "state",
            {
                "status": "queued",
                "position": queued + 1,
                "estimate_s": estimate,
                "dataset": dataset.label,
                "base": base_ref,
            },
        )
        self.local.wake()
        return job

    async def get(self, ref: str) -> JobRow:
        """A job by id or unambiguous id prefix."""
        job = await self.store.jobs.get(ref)
        if job is None:
            prefix = pick_prefix("job", ref, await self.store.jobs.ids_with_prefix(ref))
            job = await self.store.jobs.get(prefix) if prefix else None
        if job is None:
            raise NotFound(f"no job {ref!r}; `!jobs` or GET /v1/jobs lists them")
        return job

    async def find(
        self, status: str | None = None, limit: int = 20, after: str | None = None
    ) -> list[JobRow]:
        """Newest first, optionally by status, paged by `after` (a job id)."""
        return await self.store.jobs.find(status=status, limit=limit, after=after)

    async def cancel(self, ref: str) -> JobRow:
        """Cancel a queued, paused or running job (running ones stop at the next step)."""
        return await self._control(ref, "cancel")

    async def pause(self, ref: str) -> JobRow:
        """Pause a running job at a checkpoint, or hold a queued one."""
        return await self._control(ref, "pause")

    async def resume(self, ref: str) -> JobRow:
        """Put a paused job back in the queue; it continues from its checkpoint."""
        async with self._lock:
            job = await self.get(ref)
            refuse_action(job.status, "resume")
            if job.backend != "local":
                return await self._openai().control(job, "resume")
            spec = {**job.spec, "resume": self.local.has_checkpoint(job.id)}
            job = await self._transition(job, "queued", spec=spec, reason="resumed")
        self.local.wake()
        return job

    async def delete(self, ref: str) -> JobRow:
        """Delete a finished job and its files."""
        job = await self.get(ref)
        refuse_action(job.status, "delete")
        await self.store.jobs.delete(job.id)
        self.store.artifacts.remove(self.store.artifacts.job_dir(job.id))
        return job

    @property
    def dispatching(self) -> bool:
        """Whether the service takes work and its dispatcher is alive (for readiness checks)."""
        return self._accepting and self.local.dispatching

    async def queue_length(self) -> int:
        """Jobs waiting for a slot."""
        return len(await self.store.jobs.with_status("queued"))

    # -- internals --------------------------------------------------------------------

    def _openai(self) -> RemoteJobs:
        if self.remote is None:
            raise Invalid(NO_OPENAI)  # the request asks for what this server lacks: 4xx
        return self.remote

    async def _control(self, ref: str, action: str) -> JobRow:
        async with self._lock:
            job = await self.get(ref)
            refuse_action(job.status, action)
            if job.backend != "local":
                return await self._openai().control(job, action)
            if job.status in ("queued", "paused"):
                target = "cancelled" if action == "cancel" else "paused"
                return await self._transition(job, target, reason=f"{action} requested")
            self.local.control(job, action)
            await self.bus.publish(
                job.id, "log", {"level": "info", "message": f"{action} requested"}
            )
            return job

    async def _idempotent(self, client: str, key: str, request: JobRequest) -> JobRow | None:
        record = await self.store.idempotency.get(client, key)
        if record is None:
            return None
        if record.request_hash != request.fingerprint():
            raise Conflict("this Idempotency-Key was already used for a different request")
        return await self.store.jobs.get(record.job_id)

    async def _resolve_base(self, base: str) -> tuple[str, str]:
        """(what the job records, what the worker loads): a model id or the base as given."""
        try:
            model = await self.models.resolve(base)
        except NotFound:
            if Path(base).expanduser().is_dir():
                return base, str(Path(base).expanduser().resolve())
            return base, base  # a preset or a hub id; the worker says if it cannot load it
        if model.backend != "local":
            raise Invalid(f"{model.label} is a remote model and cannot be a local base")
        return model.id, model.path

    def _estimate(self, stats: dict[str, Any], spec: TrainSpec) -> float | None:
        from trainer.throughput import estimate_seconds

        hp = spec.hyperparameters
        if hp.max_steps > 0:
            tokens = hp.max_steps * hp.batch_size * hp.grad_accum * hp.block_size
        elif stats.get("train_tokens"):
            tokens = int(stats["train_tokens"] * hp.epochs)
        else:
            return None
        return estimate_seconds(tokens, spec.base, self.store.artifacts.throughput_file)

    async def _transition(
        self, job: JobRow, status: str, reason: str | None = None, **fields: Any
    ) -> JobRow:
        check_transition(job.status, status)
        now = time.time()
        if status == "running" and job.started_at is None:
            fields["started_at"] = now
        if status in FINAL:
            fields["finished_at"] = now
        await self.store.jobs.update(job.id, status=status, **fields)
        data: dict[str, Any] = {"status": status, "previous": job.status}
        if reason:
            data["reason"] = reason
        if fields.get("error"):
            data["error"] = fields["error"]
        if fields.get("model_id"):
            data["model_id"] = fields["model_id"]
        await self.bus.publish(job.id, "state", data)
        updated = await self.store.jobs.get(job.id)
        assert updated is not None
        return updated
