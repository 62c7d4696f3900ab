"""Training jobs: submit, control, find, delete; the backends drive them in between.

The database is the truth: a job's status, spec and event history are written (through
the `JobLedger`) before anything depends on them, so a SIGKILL at any moment leaves a
state each backend's `recover()` continues from (a running local job goes back to the
queue and resumes from its newest checkpoint; a remote one is polled again).

The service knows no backend by name: it picks one from its registry by the request's
or the job's `backend`, and checks what all of them share (idempotency, the queue
limit, the state machine) before handing the request over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.errors import Conflict, Forbidden, Invalid, NotFound, TooMany, Unavailable
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control, refuse_action
from bot.core.naming import pick_prefix
from bot.core.ports import TrainingBackend
from bot.core.types import JobStatus
from storage.jobs import JobRow

__all__ = ["JobRequest", "JobService", "QueueSettings"]


@dataclass(frozen=True)
class QueueSettings:
    """How many queued jobs the service accepts (`trainer.max_queue_length`)."""

    max_queue_length: int = 100
    default_backend: str = "local"  # for requests that name no backend


class JobService:
    """Job lifecycle over the persisted queue and a registry of training backends."""

    def __init__(
        self,
        ledger: JobLedger,
        backends: Iterable[TrainingBackend],
        settings: QueueSettings | None = None,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.bus = ledger.bus
        self.backends: dict[str, TrainingBackend] = {b.name: b for b in backends}
        self.settings = settings or QueueSettings()
        self._accepting = False

    # -- life cycle of the service ------------------------------------------------------

    async def start(self) -> None:
        """Recover jobs interrupted by a crash or a stop, then let every backend drive."""
        for backend in self.backends.values():
            await backend.recover()
        self._accepting = True
        for backend in self.backends.values():
            await backend.start()

    async def stop(self) -> None:
        """Stop taking work; pause running jobs at a checkpoint so the next start resumes them."""
        self._accepting = False
        for backend in self.backends.values():
            await backend.stop()
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
        """Check the request, store the job as queued, and let its backend drive it."""
        if not self._accepting:
            raise Unavailable("the service is shutting down; try again in a moment")
        backend = self._backend(request.backend)
        # One step under the catalog lock: the idempotency key, the queue limit, the
        # dataset and base the backend resolves, and the stored job. A dataset or model
        # deleted meanwhile is either gone before (not found) or sees this job (refused).
        async with self.store.catalog:
            if idempotency_key:
                previous = await self._idempotent(requested_by, idempotency_key, request)
                if previous:
                    return previous
            if backend.queues:
                await self._check_queue()
            job = await backend.submit(request, requested_by=requested_by, room_id=room_id)
            if idempotency_key:
                await self.store.idempotency.put(
                    requested_by, idempotency_key, request.fingerprint(), job.id
                )
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

    async def cancel(self, ref: str, *, by: str | None = None, admin: bool = False) -> JobRow:
        """Cancel a queued, paused or running job (running ones stop at the next step).

        `by` names who asks: then only the job's requester or an `admin` may; None is
        a caller that checked its own permissions (the CLI, a full-access token).
        """
        return await self._control(ref, "cancel", by, admin)

    async def pause(self, ref: str, *, by: str | None = None, admin: bool = False) -> JobRow:
        """Pause a running job at a checkpoint, or hold a queued one (`by` as in cancel)."""
        return await self._control(ref, "pause", by, admin)

    async def resume(self, ref: str, *, by: str | None = None, admin: bool = False) -> JobRow:
        """Put a paused job back on its way from its checkpoint (`by` as in cancel)."""
        return await self._control(ref, "resume", by, admin)

    async def delete(self, ref: str) -> JobRow:
        """Delete a finished job and its files."""
        job = await self.get(ref)
        refuse_action(job.status, "delete")
        await self.store.jobs.delete(job.id)
        self.store.artifacts.remove(self.store.artifacts.job_dir(job.id))
        return job

    @property
    def dispatching(self) -> bool:
        """Whether the service takes work and every backend drives jobs (readiness checks)."""
        return self._accepting and all(b.ready for b in self.backends.values())

    async def queue_length(self) -> int:
        """Jobs waiting for a slot."""
        return len(await self.store.jobs.with_status(JobStatus.QUEUED))

    # -- internals --------------------------------------------------------------------

    def _backend(self, name: str) -> TrainingBackend:
        name = name or self.settings.default_backend
        backend = self.backends.get(name)
        if backend is None:
            names = [repr(known) for known in self.backends]
            choices = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise Invalid(f"unknown backend {name!r}: use {choices}")
        return backend

    async def _check_queue(self) -> None:
        queued = await self.queue_length()
        if queued >= self.settings.max_queue_length:
            raise TooMany(f"the queue is full ({queued} jobs waiting); try again later")

    async def _control(self, ref: str, action: Control, by: str | None, admin: bool) -> JobRow:
        async with self.ledger.lock:
            job = await self.get(ref)
            if by is not None and not admin and by != job.requested_by:
                raise Forbidden(
                    f"only {job.requested_by or 'whoever started it'} or an admin "
                    f"may {action} job {job.id}"
                )
            refuse_action(job.status, action)
            return await self._backend(job.backend).control(job, action)

    async def _idempotent(self, client: str, key: str, request: JobRequest) -> JobRow | None:
        record = await self.store.idempotency.get(client, key)
        if record is None:
            return None
        if record.request_hash != request.fingerprint():
            raise Conflict("this Idempotency-Key was already used for a different request")
        return await self.store.jobs.get(record.job_id)
