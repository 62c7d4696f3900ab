"""Drive Ray jobs: wait for the cluster, start or find the job's actor, mirror its events.

One asyncio task per job. While the cluster is unreachable the job stays queued with
the reason (shown by `!status`; the room is told once per outage). Then the job's
`JobDriver` actor is created by name, or found again after a restart of this service
(its run goes on; `start` on a running actor does nothing), and its events are read
every `poll_interval_s` from the stored cursor, so a restart repeats none. A run whose
actor is lost is started again from its newest checkpoint, up to `max_failures` times.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from bot.core.errors import TrainbotError
from bot.core.jobs.backends.ray_cluster import (
    ClusterUnreachable,
    DriverHandle,
    RayCluster,
    RunLost,
)
from bot.core.jobs.backends.ray_jobs import RunSettings, Unreachable, actor_name, train_spec
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.states import ACTIVE
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.jobs import JobRow
from trainer.events import Completed, TrainEvent, is_final

log = get_logger(__name__)
S = JobStatus
START_TIMEOUT_S = 300.0  # a new actor's process may take long to start on a busy node


class RayRuns:
    """The tasks that move Ray jobs along; `RayBackend` starts and stops them."""

    def __init__(
        self,
        ledger: JobLedger,
        models: ModelService,
        notifications: NotificationOutbox,
        cluster: RayCluster,
        settings: RunSettings,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.models = models
        self.notifications = notifications
        self.cluster = cluster
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, str] = {}  # job id -> why it is not running (for !status)
        self._again: set[str] = set()  # jobs asked to be driven while their task was ending

    def drive(self, job_id: str) -> None:
        """Drive a job; one already driven looks at its state again before its task ends."""
        running = self._tasks.get(job_id)
        if running is not None and not running.done():
            self._again.add(job_id)  # e.g. resumed while its task was ending the paused run
            return
        task = asyncio.create_task(self._drive(job_id), name=f"ray-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(functools.partial(self._forget, job_id))

    async def stop(self) -> None:
        """Stop every task; the runs go on on the cluster."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def request_stop(self, job: JobRow, action: str) -> None:
        """Ask the job's workers to cancel or pause at their next step."""
        try:
            handle = await self.cluster.driver(actor_name(job))
            await self.cluster.call(handle.request_stop.remote(action))
        except (ClusterUnreachable, RunLost) as exc:
            raise Unreachable(f"cannot {action} the job now: {exc}") from None

    async def overview(self) -> dict[str, Any]:
        """The cluster for `!status`, or why it cannot be read, and the jobs waiting for it."""
        try:
            found = await asyncio.wait_for(self.cluster.overview(), 5.0)
        except (ClusterUnreachable, TimeoutError) as exc:
            found = {"address": self.cluster.settings.address, "reachable": False}
            found["reason"] = str(exc) or "no answer in 5 s"
        else:
            found["reachable"] = True
        found["jobs"] = sorted(self._tasks)
        found["waiting"] = dict(self._waiting)
        return found

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
            self._waiting.pop(job_id, None)

    async def _drive(self, job_id: str) -> None:
        try:
            while True:
                self._again.discard(job_id)
                # A run lost with its actor, or a job resumed after its pause, goes again.
                while (handle := await self._attach(job_id)) is not None:
                    await self._follow(job_id, handle)
                if job_id not in self._again:
                    return
        except Exception as exc:  # a bug must fail the job, not leave it running forever
            log.exception("ray job driver failed", job_id=job_id)
            async with self.ledger.lock:
                job = await self.ledger.current(job_id)
                if job.status in ACTIVE:
                    await self.ledger.transition(job, S.FAILED, error=f"internal error: {exc}")

    async def _attach(self, job_id: str) -> DriverHandle | None:
        """The job's running actor, once the cluster answers; None when the job left."""
        while True:
            job = await self.ledger.current(job_id)
            if job.status not in (S.QUEUED, S.VALIDATING_FILES, S.RUNNING):
                return None
            try:
                return await self._launch(job)
            except ClusterUnreachable as exc:
                await self._unreachable(job, str(exc), "waiting for the Ray cluster")
            await asyncio.sleep(self.settings.retry_s)

    async def _launch(self, job: JobRow) -> DriverHandle:
        """Create (or find) the job's actor and start its run (a no-op if it runs)."""
        await self.cluster.join()
        async with self.ledger.lock:
            job = await self.ledger.current(job.id)
            if job.status == S.QUEUED:
                reason = "starting on the Ray cluster"
                job = await self.ledger.transition(job, S.VALIDATING_FILES, reason=reason)
        handle = await self.cluster.driver(actor_name(job))
        ray_spec = job.spec["ray"]
        started = await self.cluster.call(
            handle.start.remote(
                train_spec(job),
                ray_spec["resources"],
                self.settings.storage_path,
                self.settings.max_failures,
            ),
            START_TIMEOUT_S,
        )
        await self._reached(job)
        if job.status != S.VALIDATING_FILES or ray_spec.get("cursor"):
            how = "started again from its newest checkpoint" if started else "re-attached"
            await self.ledger.log(job.id, f"Ray run {how} ({actor_name(job)})")
        async with self.ledger.lock:
            job = await self.ledger.current(job.id)
            if job.status == S.VALIDATING_FILES:
                workers = ray_spec["resources"]["workers"]
                reason = f"running on Ray ({workers} worker{'s' if workers > 1 else ''})"
                await self.ledger.transition(job, S.RUNNING, reason=reason)
        return handle

    async def _follow(self, job_id: str, handle: DriverHandle) -> None:
        """Mirror the actor's events until a final one, or until the actor is lost."""
        while True:
            job = await self.ledger.current(job_id)
            if job.status not in (S.VALIDATING_FILES, S.RUNNING):
                return
            cursor = int(job.spec["ray"].get("cursor", 0))
            try:
                events = await self.cluster.call(handle.events.remote(cursor))
            except ClusterUnreachable as exc:
                await self._unreachable(job, str(exc), "lost contact with the Ray cluster")
                await asyncio.sleep(self.settings.retry_s)
                continue
            except RunLost as exc:
                await self._lost(job, str(exc))
                return
            await self._reached(job)
            if await self._mirror(job, events):
                await self._cleanup(actor_name(job), await self.ledger.current(job_id))
                return
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _mirror(self, job: JobRow, events: list[TrainEvent]) -> bool:
        """Publish new events, moving the cursor past each one as it is published (a
        SIGKILL then repeats at most the one event in between); True when the run ended."""
        start = int(job.spec["ray"].get("cursor", 0))
        for done, event in enumerate(events, start=1):
            await self._record(job, event)
            current = await self.ledger.current(job.id)
            ray_spec = dict(current.spec["ray"])
            # A pause started the next attempt (cursor 0) meanwhile: that one counts anew.
            if ray_spec["attempt"] == job.spec["ray"]["attempt"]:
                ray_spec["cursor"] = start + done
                await self.store.jobs.update(job.id, spec={**current.spec, "ray": ray_spec})
        return any(is_final(event) for event in events)

    async def _record(self, job: JobRow, event: TrainEvent) -> None:
        data = {k: self.ledger.public(v) for k, v in event.items() if k != "event"}
        await self.ledger.bus.publish(job.id, event["event"], data)
        if event["event"] == "completed":
            await self._succeeded(job, event)
            return
        async with self.ledger.lock:
            current = await self.ledger.current(job.id)
            if event["event"] == "failed":
                await self.ledger.transition(current, S.FAILED, error=event.get("error"))
            elif event["event"] == "stopped" and event.get("reason") == "cancel":
                await self.ledger.transition(current, S.CANCELLED, reason="cancelled")
            elif event["event"] == "stopped":
                reason = f"paused at step {event.get('step')}"
                ray_spec = {**current.spec["ray"], "cursor": 0}
                ray_spec["attempt"] = int(ray_spec["attempt"]) + 1  # a resume is a new run
                spec = {**current.spec, "ray": ray_spec}
                await self.ledger.transition(current, S.PAUSED, spec=spec, reason=reason)

    async def _succeeded(self, job: JobRow, event: Completed) -> None:
        metrics = dict(event.get("metrics") or {})
        folder = Path(str(event.get("model_dir") or job.spec["output_dir"]))
        model = await self.models.register_local(
            name=job.name,
            job_id=job.id,
            dataset_id=job.dataset_id,
            base=job.base,
            output_dir=folder,
            metrics=metrics,
        )
        async with self.ledger.lock:
            await self.ledger.transition(
                await self.ledger.current(job.id),
                S.SUCCEEDED,
                model_id=model.id,
                result={**metrics, "model": model.label, "model_id": model.id},
                reason=f"registered {model.label}",
            )

    async def _cleanup(self, name: str, job: JobRow) -> None:
        """End the finished run's actor; drop checkpoints of a success, everything of a cancel."""
        try:
            await self.cluster.kill(name)
        except (ClusterUnreachable, RunLost):
            log.warning("could not end a finished ray actor", job_id=job.id, actor=name)
        root = Path(job.spec["checkpoint_dir"]).parent
        if job.status == S.SUCCEEDED:
            await asyncio.to_thread(_remove, root / "checkpoints")
        elif job.status == S.CANCELLED:
            await asyncio.to_thread(_remove, root)

    async def _lost(self, job: JobRow, why: str) -> bool:
        """The actor died with its node: start the run again (True) or fail the job."""
        ray_spec = dict(job.spec["ray"])
        failures = int(ray_spec.get("failures", 0)) + 1
        async with self.ledger.lock:
            current = await self.ledger.current(job.id)
            if failures > self.settings.max_failures:
                error = f"{why}; gave up after {failures - 1} restarts (ray.max_failures)"
                await self.ledger.transition(current, S.FAILED, error=error)
                return False
            ray_spec.update(failures=failures, attempt=int(ray_spec["attempt"]) + 1, cursor=0)
            await self.store.jobs.update(job.id, spec={**current.spec, "ray": ray_spec})
        await self.ledger.log(job.id, f"{why}; starting again from its newest checkpoint")
        return True

    async def _unreachable(self, job: JobRow, reason: str, what: str) -> None:
        """Remember why the job waits; tell its history and room once per outage."""
        first = job.id not in self._waiting
        self._waiting[job.id] = f"{what}: {reason}"
        if not first:
            return
        log.warning("ray cluster unreachable", job_id=job.id, reason=reason)
        await self.ledger.log(
            job.id, f"{what}: {reason}; trying again every {self.settings.retry_s:g} s"
        )
        if job.room_id:
            try:
                text = f"Job {job.id[:8]} ({job.name}): {what} ({reason}). Trying again."
                await self.notifications.enqueue(job.room_id, text, source="ray")
            except TrainbotError:  # the outbox is full; the job's history has the line
                log.warning("ray notice dropped", job_id=job.id)

    async def _reached(self, job: JobRow) -> None:
        """The cluster answers again: say so where the outage was told."""
        if self._waiting.pop(job.id, None) is not None:
            await self.ledger.log(job.id, "the Ray cluster answers again")


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
