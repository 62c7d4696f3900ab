"""Mirror a Ray run's events into the job's history: each once, even across a SIGKILL.

Each mirrored event is stored with its number in the run (`ray_event`: attempt and
number), and the job's cursor moves past it right after. A SIGKILL between the two
leaves the cursor one behind; after the restart the stored number says the event is
there already, so it is not published again, while a final event still acts (registers
the model, fails, cancels or pauses the job): the kill may have come before it did.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.jobs.ledger import JobLedger
from bot.core.models import ModelService
from bot.core.types import JobStatus
from storage.jobs import JobRow
from trainer.events import Completed, TrainEvent, is_final

S = JobStatus
RAY_EVENT = "ray_event"  # [attempt, number in the run] stored with each mirrored event
RECENT_EVENTS = 200  # how far back the newest mirrored event is looked for after a restart


class EventMirror:
    """Publishes a run's events and acts on its final one."""

    def __init__(self, ledger: JobLedger, models: ModelService) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.models = models

    async def stored(self, job: JobRow) -> int:
        """The run's newest event number already stored (0: none).

        The cursor moves after each event is stored; a SIGKILL in between leaves it one
        behind, and the number stored with the event tells.
        """
        attempt = int(job.spec["ray"]["attempt"])
        last = await self.store.events.last(job.id)
        if last is None:
            return 0
        recent = await self.store.events.find(job.id, after=max(0, last.seq - RECENT_EVENTS))
        numbers = [
            int(row.data[RAY_EVENT][1])
            for row in recent
            if isinstance(row.data.get(RAY_EVENT), list) and row.data[RAY_EVENT][0] == attempt
        ]
        return max(numbers, default=0)

    async def publish(
        self, job: JobRow, cursor: int, events: list[TrainEvent], stored: int
    ) -> bool:
        """Publish the events not stored yet, each with its number in the run, moving the
        cursor past each one; a final event acts even when stored (a SIGKILL may have come
        between storing and acting). True when the run ended."""
        attempt = int(job.spec["ray"]["attempt"])
        for number, event in enumerate(events, start=cursor + 1):
            if number > stored:
                data = {k: self.ledger.public(v) for k, v in event.items() if k != "event"}
                data[RAY_EVENT] = [attempt, number]
                await self.ledger.bus.publish(job.id, event["event"], data)
            current = await self.ledger.current(job.id)
            ray_spec = dict(current.spec["ray"])
            if ray_spec["attempt"] == attempt:
                ray_spec["cursor"] = number
                await self.store.jobs.update(job.id, spec={**current.spec, "ray": ray_spec})
            if is_final(event):
                await self._act(job, event)
        return any(is_final(event) for event in events)

    async def _act(self, job: JobRow, event: TrainEvent) -> None:
        """What a final event does to the job: register its model, fail, cancel, pause."""
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
        folder = Path(str(event.get("model_dir") or job.spec["output_dir"]))
        await self.ledger.succeed(job, self.models, folder, dict(event.get("metrics") or {}))
