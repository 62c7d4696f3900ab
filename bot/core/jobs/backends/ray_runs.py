"""Drive Ray jobs: wait for the cluster, start or find the job's actor, mirror its events.

One asyncio task per job. While the cluster is unreachable the job stays queued with
the reason (shown by `!status`; the room is told once per outage). Then the job's run
is started on the cluster's `RunHost` actor under the run's key, or found there again
after a restart of this service (its run goes on; `start` of a running key does
nothing), and its events are read every `poll_interval_s` from the stored cursor, so a
restart repeats none. A lost run is started again from its newest checkpoint, up to
`max_failures` times.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from bot.core.errors import TrainbotError
from bot.core.jobs.backends.ray_cluster import (
    ClusterUnreachable,
    RayCluster,
    RunHandle,
    RunLost,
    one_line,
)
from bot.core.jobs.backends.ray_jobs import RunSettings, Unreachable, run_key, train_spec
from bot.core.jobs.backends.ray_mirror import EventMirror
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.states import ACTIVE
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.jobs import JobRow
from trainer.events import TrainEvent

log = get_logger(__name__)
S = JobStatus
START_TIMEOUT_S = 300.0  # a new host actor's process may take long to start on a busy node


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
        self.mirror = EventMirror(ledger, models)
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
            run = await self.cluster.run(run_key(job))
            await self.cluster.call(run.request_stop(action))
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

    async def _attach(self, job_id: str) -> RunHandle | None:
        """The job's running run, once the cluster answers; None when the job left."""
        while True:
            job = await self.ledger.current(job_id)
            if job.status not in (S.QUEUED, S.VALIDATING_FILES, S.RUNNING):
                return None
            try:
                return await self._launch(job)
            except ClusterUnreachable as exc:
                await self._unreachable(job, str(exc), "waiting for the Ray cluster")
            except RunLost as exc:  # the cluster is back, without the run: start it again
                await self._reached(job)
                if not await self._lost(job, str(exc)):
                    return None
                continue
            await asyncio.sleep(self.settings.retry_s)

    async def _launch(self, job: JobRow) -> RunHandle:
        """Start the job's run on the cluster's `RunHost` (a no-op if it runs there)."""
        await self.cluster.join()
        async with self.ledger.lock:
            job = await self.ledger.current(job.id)
            if job.status == S.QUEUED:
                reason = "starting on the Ray cluster"
                job = await self.ledger.transition(job, S.VALIDATING_FILES, reason=reason)
        handle = await self.cluster.run(run_key(job))
        ray_spec = job.spec["ray"]
        if ray_spec.get("cursor") and not await self.cluster.call(handle.exists()):
            raise RunLost("the Ray cluster lost the run (its head restarted)")
        started = await self.cluster.call(
            handle.start(
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
            await self.ledger.log(job.id, f"Ray run {how} ({run_key(job)})")
        async with self.ledger.lock:
            job = await self.ledger.current(job.id)
            if job.status == S.VALIDATING_FILES:
                workers = ray_spec["resources"]["workers"]
                reason = f"running on Ray ({workers} worker{'s' if workers > 1 else ''})"
                await self.ledger.transition(job, S.RUNNING, reason=reason)
        return handle

    async def _follow(self, job_id: str, handle: RunHandle) -> None:
        """Mirror the run's events until a final one, or until the run is lost."""
        stored = await self.mirror.stored(await self.ledger.current(job_id))
        while True:
            job = await self.ledger.current(job_id)
            if job.status not in (S.VALIDATING_FILES, S.RUNNING):
                return
            cursor = int(job.spec["ray"].get("cursor", 0))
            try:
                events = await self._events(handle, cursor)
            except ClusterUnreachable as exc:
                await self._unreachable(job, str(exc), "lost contact with the Ray cluster")
                if not self.cluster.joined:
                    return  # `_attach` joins again once it answers, then finds the run
                await asyncio.sleep(self.settings.retry_s)
                continue
            except RunLost as exc:
                await self._lost(job, str(exc))
                return
            await self._reached(job)
            if await self.mirror.publish(job, cursor, events, stored):
                await self._cleanup(handle, await self.ledger.current(job_id))
                return
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _events(self, handle: RunHandle, cursor: int) -> list[TrainEvent]:
        """The run's new events; `RunLost` when the cluster lost it, `ClusterUnreachable`
        (having left the cluster) when its head went away."""
        if not self.cluster.joined:
            raise ClusterUnreachable("not connected to the Ray cluster")
        try:
            pending = handle.events(cursor)
        except Exception as exc:  # Ray was shut down under this call: another job left
            raise ClusterUnreachable(one_line(exc)) from None
        try:
            events = await self.cluster.call(pending)
        except (RunLost, ClusterUnreachable):
            if await self.cluster.reachable():
                raise  # its node (or only its host actor) was lost, or a slow answer
            await self.cluster.leave()
            address = self.cluster.settings.address
            raise ClusterUnreachable(f"the Ray cluster at {address} is unreachable") from None
        if events is None:  # a new RunHost (the cluster restarted) knows it not
            raise RunLost("the Ray cluster no longer has the run")
        return list(events)

    async def _cleanup(self, run: RunHandle, job: JobRow) -> None:
        """Forget the finished run; drop checkpoints of a success, everything of a cancel."""
        try:
            await self.cluster.finish(run)
        except (ClusterUnreachable, RunLost):
            log.warning("could not forget a finished ray run", job_id=job.id, run=run.key)
        root = Path(job.spec["checkpoint_dir"]).parent
        if job.status == S.SUCCEEDED:
            await asyncio.to_thread(_remove, root / "checkpoints")
        elif job.status == S.CANCELLED:
            await asyncio.to_thread(_remove, root)

    async def _lost(self, job: JobRow, why: str) -> bool:
        """The run was lost (its host with its node): start it again (True) or fail the job."""
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
