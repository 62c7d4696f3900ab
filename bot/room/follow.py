"""Progress in the room: one message edited in place, then one final notice.

The same mechanism (`EditInPlace`) follows training jobs and data tasks. Its event ids
live in the state store, so after a restart the bot edits the message it sent before and
never announces an outcome twice.

Each subject has an `Origin` (`bot.room.origin`): its messages stay in the command's
thread, the final notice pings who asked in reply to the command, and the command's ⏳
becomes ✅ or ❌ when the work ends.

Jobs: events arrive from the EventBus; each job gets its own queue and task so its
messages keep their order, and edits are throttled to `progress_interval_s` (the newest
pending progress is flushed when the interval is over, so the message is never stale
for long). Data tasks: the task runner calls back at the same interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bot.core.dataprep.progress import Progress
from bot.core.services import Services
from bot.core.types import FINAL, JobStatus
from bot.logs import get_logger
from bot.matrix.types import StateStore
from bot.room.lossplot import render_loss_curve
from bot.room.origin import (
    ACK_REACTION,
    DONE_REACTION,
    FAILED_REACTION,
    Origin,
    Origins,
    final_content,
    progress_content,
)
from bot.room.ports import Room
from bot.room.text import (
    job_final_text,
    loss_curve_title,
    progress_line,
    task_final_text,
    task_progress_line,
)
from storage.data_tasks import DataTaskRow
from storage.jobs import EventRow, JobRow

log = get_logger(__name__)
# States the acknowledgement of `train` already reports: no progress message for them yet.
ACKNOWLEDGED = (JobStatus.QUEUED, JobStatus.VALIDATING_FILES)


class EditInPlace:
    """One progress message per subject (`job.<id>`, `task.<id>`), then one final notice."""

    def __init__(self, room: Room, state: StateStore) -> None:
        self.room = room
        self.state = state

    async def has_message(self, subject: str) -> bool:
        """Whether the subject's progress message was sent already."""
        return await self.state.get(_message_key(subject)) is not None

    async def show(self, origin: Origin, subject: str, line: str) -> None:
        """Send the progress message (in the command's thread), or edit it when it exists."""
        event_id = await self.state.get(_message_key(subject))
        content = progress_content(origin, line)
        if event_id is None:
            event_id = await self.room.send(origin.room_id, content)
            await self.state.set(_message_key(subject), event_id)
        else:
            self.room.edit(origin.room_id, event_id, content)

    async def finish(self, origin: Origin, subject: str, text: str, *, ok: bool = True) -> bool:
        """Send the final notice unless it was sent before (pinging who asked, in reply to
        their command) and swap the command's ⏳ for ✅ or ❌; whether it was sent now."""
        key = f"room.final_notice.{subject}"
        if await self.state.get(key):
            return False  # already announced (e.g. before a restart)
        await self.room.send(origin.room_id, final_content(origin, text))
        await self.state.set(key, "1")
        if origin.acknowledged and origin.event_id is not None:
            self.room.unreact(origin.room_id, origin.event_id, ACK_REACTION)
            outcome = DONE_REACTION if ok else FAILED_REACTION
            self.room.react(origin.room_id, origin.event_id, outcome)
        return True


def _message_key(subject: str) -> str:
    return f"room.progress_message.{subject}"


class Follow:
    """Mirrors jobs (from the EventBus) and data tasks into the rooms they came from."""

    def __init__(self, services: Services, room: Room, *, prefix: str, interval_s: float) -> None:
        self.services = services
        self.room = room
        self.messages = EditInPlace(room, services.store.state)
        self.origins = Origins(services.store.state)
        self.prefix = prefix
        self.interval_s = interval_s
        self._queues: dict[str, asyncio.Queue[EventRow]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def job(self, job_id: str, origin: Origin) -> None:
        """Remember the command a job came from (its thread, who asked, its ⏳)."""
        subject = f"job.{job_id}"
        self.origins.remember(subject, origin)  # known before the next event is shown
        await self.origins.save(subject)

    async def task(self, task: DataTaskRow, origin: Origin) -> None:
        """Show a data task's progress where its command was, then its outcome."""
        subject = f"task.{task.id}"
        self.origins.remember(subject, origin)
        await self.origins.save(subject)

        async def show(current: DataTaskRow) -> None:
            line = task_progress_line(current, Progress(**current.progress))
            await self.messages.show(origin, subject, line)
            if current.finished:
                ok = current.status == JobStatus.SUCCEEDED
                await self.messages.finish(origin, subject, task_final_text(current), ok=ok)
                self.origins.forget(subject)

        self.services.dataprep.follow(task.id, show, self.interval_s)

    async def on_event(self, job_id: str, row: EventRow) -> None:
        """EventBus listener: hand the event to the job's own task."""
        queue = self._queues.get(job_id)
        if queue is None:
            queue = self._queues[job_id] = asyncio.Queue()
            self._tasks[job_id] = asyncio.create_task(self._follow_job(job_id, queue))
        queue.put_nowait(row)

    async def stop(self) -> None:
        """Stop following jobs (the outbox still delivers what was queued)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _follow_job(self, job_id: str, queue: asyncio.Queue[EventRow]) -> None:
        last_edit = 0.0
        pending: EventRow | None = None
        while True:
            timeout = (
                None
                if pending is None
                else max(0.0, last_edit + self.interval_s - time.monotonic())
            )
            try:
                row = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                assert pending is not None
                row = pending
                pending = None
            job = await self.services.store.jobs.get(job_id)
            if job is None or job.room_id is None:
                return
            if row.event == "progress" and time.monotonic() - last_edit < self.interval_s:
                pending = row  # throttled: flushed when the interval is over
                continue
            if row.event not in ("progress", "state"):
                continue
            pending = None
            try:
                await self._show_job(job, job.room_id, row)
            except Exception:
                log.exception("progress message failed", job_id=job_id)
            last_edit = time.monotonic()
            if _is_final(row):
                self._queues.pop(job_id, None)
                self._tasks.pop(job_id, None)
                return

    async def _show_job(self, job: JobRow, room_id: str, row: EventRow) -> None:
        subject = f"job.{job.id}"
        acknowledged = row.event == "state" and row.data.get("status") in ACKNOWLEDGED
        if acknowledged and not await self.messages.has_message(subject):
            return  # the acknowledgement already said it is queued
        origin = await self._origin(job, room_id)
        progress = row.data if row.event == "progress" else await self._last_progress(job.id)
        line = progress_line(job, await self._eta(job, progress))
        await self.messages.show(origin, subject, line)
        if not _is_final(row):
            return
        text = job_final_text(job, self.prefix, await self._active_label(job))
        ok = job.status == JobStatus.SUCCEEDED
        sent = await self.messages.finish(origin, subject, text, ok=ok)
        self.origins.forget(subject)
        if sent and ok:
            with contextlib.suppress(Exception):
                await self._post_curve(job, origin)

    async def _origin(self, job: JobRow, room_id: str) -> Origin:
        """The command's origin; for a job no command started, its room and requester."""
        found = await self.origins.get(f"job.{job.id}")
        return found or Origin(room_id, sender=job.requested_by)

    async def _active_label(self, job: JobRow) -> str | None:
        """The label of the model version now active under the job's name, if any."""
        if job.status != JobStatus.SUCCEEDED:
            return None
        active = await self.services.store.models.active(job.name)
        return active[0].label if active else None

    async def _eta(self, job: JobRow, progress: dict[str, Any] | None) -> dict[str, Any] | None:
        """The progress with the ETA the acknowledgement's estimate refined by this run."""
        if not progress or job.started_at is None:
            return progress
        from trainer.throughput import refined_eta

        first = await self.services.store.events.find(job.id, limit=1)
        estimate = first[0].data.get("estimate_s") if first else None
        eta = refined_eta(
            estimate if isinstance(estimate, int | float) else None,
            time.time() - job.started_at,
            int(progress.get("step") or 0),
            int(progress.get("total_steps") or 0),
            progress.get("eta_s"),
        )
        return {**progress, "eta_s": eta}

    async def _last_progress(self, job_id: str) -> dict[str, Any] | None:
        last = await self.services.store.events.last(job_id, "progress")
        return last.data if last else None

    async def _post_curve(self, job: JobRow, origin: Origin) -> None:
        events = await self.services.store.events.find(job.id, limit=100_000)
        png, width, height = await asyncio.to_thread(
            render_loss_curve, loss_curve_title(job), events
        )
        await self.room.send_image(
            origin.room_id,
            png,
            f"loss-{job.id}.png",
            width=width,
            height=height,
            relates_to=origin.in_thread(),
        )


def _is_final(row: EventRow) -> bool:
    return row.event == "state" and row.data.get("status") in FINAL
