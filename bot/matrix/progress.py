"""Job progress in the room: one message edited in place, then a final notice and image.

Events arrive from the EventBus; each job gets its own queue and task so its messages
keep their order, and edits are throttled to `progress_interval_s` (the newest pending
progress is flushed when the interval is over, so the message is never stale for long).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bot.core.services import Services
from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.lossplot import render_loss_curve
from bot.room.text import duration, progress_line, rate
from storage.jobs import EventRow, JobRow

log = get_logger(__name__)
FINAL = ("succeeded", "failed", "cancelled")
SENT_KEY = "matrix.final_notice.{job_id}"


class ProgressNotifier:
    """Mirrors job events into the job's room through the outbox."""

    def __init__(self, services: Services, room: Any, interval_s: float) -> None:
        self.services = services
        self.room = room
        self.interval_s = interval_s
        self._queues: dict[str, asyncio.Queue[EventRow]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def on_event(self, job_id: str, row: EventRow) -> None:
        """EventBus listener: hand the event to the job's own task."""
        queue = self._queues.get(job_id)
        if queue is None:
            queue = self._queues[job_id] = asyncio.Queue()
            self._tasks[job_id] = asyncio.create_task(self._follow(job_id, queue))
        queue.put_nowait(row)

    async def stop(self) -> None:
        """Stop following jobs (the outbox still delivers what was queued)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _follow(self, job_id: str, queue: asyncio.Queue[EventRow]) -> None:
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
                await self._show(job, row)
            except Exception:
                log.exception("progress message failed", job_id=job_id)
            last_edit = time.monotonic()
            if row.event == "state" and row.data.get("status") in FINAL:
                self._queues.pop(job_id, None)
                self._tasks.pop(job_id, None)
                return

    async def _show(self, job: JobRow, row: EventRow) -> None:
        progress = row.data if row.event == "progress" else await self._last_progress(job.id)
        line = progress_line(job, progress)
        if job.progress_event_id is None:
            if row.event == "state" and row.data.get("status") in ("queued", "validating_files"):
                return  # the acknowledgement already said it is queued
            event_id = await self.room.send(job.room_id, fmt.notice(line))
            await self.services.store.jobs.update(job.id, progress_event_id=event_id)
        else:
            self.room.edit(job.room_id, job.progress_event_id, fmt.notice(line))
        if row.event == "state" and row.data.get("status") in FINAL:
            await self._final(job, row)

    async def _last_progress(self, job_id: str) -> dict[str, Any] | None:
        last = await self.services.store.events.last(job_id, "progress")
        return last.data if last else None

    async def _final(self, job: JobRow, row: EventRow) -> None:
        key = SENT_KEY.format(job_id=job.id)
        if await self.services.store.state.get(key):
            return  # already announced (e.g. before a restart)
        assert job.room_id is not None
        await self.room.send(job.room_id, fmt.notice(await final_text(self.services, job)))
        if job.status == "succeeded":
            with contextlib.suppress(Exception):
                await self._post_curve(job)
        await self.services.store.state.set(key, "1")

    async def _post_curve(self, job: JobRow) -> None:
        assert job.room_id is not None
        events = await self.services.store.events.find(job.id, limit=100_000)
        title = f"{job.name} · job {job.id}"
        png, width, height = await asyncio.to_thread(render_loss_curve, title, events)
        await self.room.send_image(
            job.room_id, png, f"loss-{job.id}.png", width=width, height=height
        )


async def final_text(services: Services, job: JobRow) -> str:
    """The notice for a finished job: metrics on success, the reason otherwise."""
    if job.status == "succeeded":
        r = job.result or {}
        facts = []  # only what this backend measured: a remote job has no local eval
        if isinstance(r.get("eval_loss"), int | float):
            facts.append(f"eval loss {r['eval_loss']:.3f}")
        before, after = r.get("initial_perplexity"), r.get("perplexity")
        if isinstance(before, int | float) and isinstance(after, int | float):
            facts.append(f"perplexity {before:.1f} → {after:.1f}")
        if r.get("tokens_seen"):
            facts.append(f"{r['tokens_seen']} tokens at {rate(r.get('tokens_per_s'))}")
        if r.get("duration_s"):
            facts.append(f"took {duration(r['duration_s'])}")
        detail = f" {', '.join(facts)}." if facts else ""
        return (
            f"✅ Job {job.id} succeeded: {r.get('model')} is ready.{detail} "
            f"Try it: !generate model={r.get('model')} <prompt>"
        )
    if job.status == "cancelled":
        return f"⏹ Job {job.id} ({job.name}) was cancelled."
    return f"❌ Job {job.id} ({job.name}) failed: {job.error or 'unknown error'}"
