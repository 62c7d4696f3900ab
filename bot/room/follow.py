"""Progress in the room: one message edited in place, then one final notice.

The same mechanism (`EditInPlace`) follows training jobs and data tasks. Its event ids
live in the state store, so after a restart the bot edits the message it sent before and
never announces an outcome twice.

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
from bot.matrix import format as fmt
from bot.matrix.types import StateStore
from bot.room.lossplot import render_loss_curve
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

    async def show(self, room_id: str, subject: str, line: str) -> None:
        """Send the progress message, or edit it when it exists."""
        event_id = await self.state.get(_message_key(subject))
        if event_id is None:
            event_id = await self.room.send(room_id, fmt.notice(line))
            await self.state.set(_message_key(subject), event_id)
        else:
            self.room.edit(room_id, event_id, fmt.notice(line))

    async def finish(self, room_id: str, subject: str, text: str) -> bool:
        """Send the final notice unless it was sent before; whether it was sent now."""
        key = f"room.final_notice.{subject}"
        if await self.state.get(key):
            return False  # already announced (e.g. before a restart)
        await self.room.send(room_id, fmt.notice(text))
        await self.state.set(key, "1")
        return True


def _message_key(subject: str) -> str:
    return f"room.progress_message.{subject}"


class Follow:
    """Mirrors jobs (from the EventBus) and data tasks into the rooms they came from."""

    def __init__(self, services: Services, room: Room, *, prefix: str, interval_s: float) -> None:
        self.services = services
        self.room = room
        self.messages = EditInPlace(room, services.store.state)
        self.prefix = prefix
        self.interval_s = interval_s
        self._queues: dict[str, asyncio.Queue[EventRow]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def task(self, task: DataTaskRow, room_id: str) -> None:
        """Show a data task's progress in `room_id`, then its outcome."""
        subject = f"task.{task.id}"

        async def show(current: DataTaskRow) -> None:
            line = task_progress_line(current, Progress(**current.progress))
            await self.messages.show(room_id, subject, line)
            if current.finished:
                await self.messages.finish(room_id, subject, task_final_text(current))

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
        progress = row.data if row.event == "progress" else await self._last_progress(job.id)
        await self.messages.show(room_id, subject, progress_line(job, progress))
        if not _is_final(row):
            return
        sent = await self.messages.finish(room_id, subject, job_final_text(job, self.prefix))
        if sent and job.status == JobStatus.SUCCEEDED:
            with contextlib.suppress(Exception):
                await self._post_curve(job, room_id)

    async def _last_progress(self, job_id: str) -> dict[str, Any] | None:
        last = await self.services.store.events.last(job_id, "progress")
        return last.data if last else None

    async def _post_curve(self, job: JobRow, room_id: str) -> None:
        events = await self.services.store.events.find(job.id, limit=100_000)
        png, width, height = await asyncio.to_thread(
            render_loss_curve, loss_curve_title(job), events
        )
        await self.room.send_image(room_id, png, f"loss-{job.id}.png", width=width, height=height)


def _is_final(row: EventRow) -> bool:
    return row.event == "state" and row.data.get("status") in FINAL
