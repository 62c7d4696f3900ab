"""`JobLedger`: the one place a job is created or changes state.

Every backend writes through it: one lock orders the state changes of all jobs (a
control request and a worker's final event cannot interleave), one `transition()` checks
the state machine, stamps the times and announces the change as a `state` event, and
one `insert()` builds the stored row of a new, queued job.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bot.core.events import EventBus
from bot.core.jobs.states import FINAL, check_transition
from bot.core.types import JobStatus
from storage.jobs import JobRow
from storage.store import Store
from trainer.artifacts import relative_paths

if TYPE_CHECKING:
    from bot.core.models import ModelService

T = TypeVar("T")


@dataclass(frozen=True)
class NewJob:
    """What a backend decided about a job it accepts; the ledger adds the rest."""

    id: str
    name: str
    backend: str
    dataset_id: str
    base: str
    spec: dict[str, Any]
    requested_by: str
    room_id: str | None
    validation_dataset_id: str | None = None  # the version it validates on, if any


class JobLedger:
    """The stored jobs, their one lock and their state changes."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self.lock = asyncio.Lock()

    async def insert(self, new: NewJob, announce: dict[str, Any]) -> JobRow:
        """Store a new job as queued and publish its first `state` event (`announce` adds)."""
        now = time.time()
        job = JobRow(
            id=new.id,
            name=new.name,
            status=JobStatus.QUEUED,
            backend=new.backend,
            dataset_id=new.dataset_id,
            base=new.base,
            spec=new.spec,
            requested_by=new.requested_by,
            room_id=new.room_id,
            result=None,
            error=None,
            model_id=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            updated_at=now,
            remote_id=None,
            validation_dataset_id=new.validation_dataset_id,
        )
        await self.store.jobs.insert(job)
        await self.bus.publish(job.id, "state", {"status": JobStatus.QUEUED, **announce})
        return job

    async def transition(
        self, job: JobRow, status: JobStatus, reason: str | None = None, **fields: Any
    ) -> JobRow:
        """Move `job` to `status` (with other columns), stamp the times, publish the change."""
        check_transition(job.status, status)
        if isinstance(fields.get("error"), str):
            fields["error"] = self.public(fields["error"])
        reason = self.public(reason) if reason else reason
        now = time.time()
        if status == JobStatus.RUNNING and job.started_at is None:
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
        return await self.current(job.id)

    async def succeed(
        self, job: JobRow, models: ModelService, folder: Path, metrics: dict[str, Any]
    ) -> JobRow:
        """Register a finished run's model folder and move its job to succeeded.

        Local and Ray runs both end here, with the same result shape. A Ray run's final
        event acts again after a SIGKILL of the service, so a version this job already
        registered is taken instead of registering (and moving the folder) twice.
        """
        known = [m for m in await models.versions(job.name) if m.job_id == job.id]
        model = (
            known[0]
            if known
            else await models.register_local(
                name=job.name,
                job_id=job.id,
                dataset_id=job.dataset_id,
                base=job.base,
                output_dir=folder,
                metrics=metrics,
            )
        )
        async with self.lock:
            return await self.transition(
                await self.current(job.id),
                JobStatus.SUCCEEDED,
                model_id=model.id,
                result={**metrics, "model": model.label, "model_id": model.id},
                reason=f"registered {model.label}",
            )

    async def current(self, job_id: str) -> JobRow:
        """The job as stored now (it must exist: jobs are deleted only once final)."""
        job = await self.store.jobs.get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} vanished while it was driven")
        return job

    async def with_status(self, backend: str, *statuses: JobStatus) -> list[JobRow]:
        """One backend's jobs in any of these states, oldest first (the queue order)."""
        return [
            job for job in await self.store.jobs.with_status(*statuses) if job.backend == backend
        ]

    def public(self, value: T) -> T:
        """`value` (text or JSON) with server paths written relative to the data dir.

        Errors and events reach people and programs; where the data dir lives on this
        server is none of their business.
        """
        # The same shape comes back: only strings change.
        return cast("T", relative_paths(value, self.store.artifacts.root))

    async def log(self, job_id: str, message: str) -> None:
        """An info line in the job's history."""
        await self.bus.publish(job_id, "log", {"level": "info", "message": self.public(message)})
