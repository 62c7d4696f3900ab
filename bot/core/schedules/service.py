"""Adaptive retraining: `[[schedules]]` policies evaluated on a schedule, every decision
recorded and posted; a retrain goes through the job service like any other job."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.errors import NotFound, TrainbotError
from bot.core.jobs.request import JobRequest
from bot.core.schedules.inputs import unseen_examples
from bot.core.schedules.policies import (
    Decision,
    Situation,
    decide_cron,
    decide_llm,
    decide_metric,
    decide_new_data,
)
from bot.core.types import ACTIVE
from bot.logs import get_logger
from storage.schedules import DecisionRow
from trainer.workers.eval import EvalWorker

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.base import BaseTrigger

    from bot.core.dataprep.chat import ChatModel
    from bot.core.datasets import DatasetService
    from bot.core.jobs.service import JobService
    from bot.core.models import ModelService
    from bot.core.notifications import NotificationOutbox
    from bot.settings import ScheduleSettings
    from storage.registry import ModelRow
    from storage.store import Store

log = get_logger(__name__)
LLM_SAMPLES = 3  # unseen examples the llm policy shows the chat model
NONE_CONFIGURED = (
    "No retraining schedules are configured. Add a [[schedules]] table to the config "
    '(model, dataset, policy = "cron" | "new_data" | "metric" | "llm", cron or every).'
)


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as `!schedule` and GET /v1/schedules show it."""

    schedule: ScheduleSettings
    next_run: datetime | None
    decisions: list[DecisionRow]


class ScheduleService:
    """Evaluate retraining policies; `!schedule` shows them and their last decisions."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        models: ModelService,
        jobs: JobService,
        notifications: NotificationOutbox,
        schedules: list[ScheduleSettings],
        openai: ChatModel | None,
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.models = models
        self.jobs = jobs
        self.notifications = notifications
        self.schedules = schedules
        self.openai = openai
        self._locks = {s.model: asyncio.Lock() for s in schedules}
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._eval = EvalWorker()

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add one scheduler job per schedule: at its cron times, else every `every`."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler = scheduler
        for s in self.schedules:
            trigger: BaseTrigger
            if s.cron is not None:
                trigger = CronTrigger.from_crontab(s.cron, timezone=scheduler.timezone)
            else:
                trigger = IntervalTrigger(seconds=s.interval_s, timezone=scheduler.timezone)
            # No misfire limit: a check that starts late (a busy loop, a suspended laptop)
            # still runs, once (coalesce), instead of being skipped until the next time.
            scheduler.add_job(
                self._scheduled,
                trigger,
                args=[s.model],
                id=f"schedule:{s.model}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
            )

    async def stop(self) -> None:
        """Stop evaluating: cancel evaluations in flight, end the eval-loss worker."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._eval.stop()

    # -- reading ----------------------------------------------------------------------

    def configured(self, model: str) -> ScheduleSettings:
        """The schedule of `model`; NotFound names the configured ones."""
        for s in self.schedules:
            if s.model == model:
                return s
        if not self.schedules:
            raise NotFound(NONE_CONFIGURED)
        names = ", ".join(s.model for s in self.schedules)
        raise NotFound(f"no retraining schedule for model {model!r}; configured: {names}")

    async def overview(self, decisions: int = 3) -> list[ScheduleView]:
        """Every schedule with its next run and its newest decisions."""
        return [
            ScheduleView(s, self.next_run(s.model), await self.history(s.model, decisions))
            for s in self.schedules
        ]

    async def history(self, model: str, limit: int = 10) -> list[DecisionRow]:
        """The newest decisions about `model` (a configured one), newest first."""
        self.configured(model)
        return await self.store.decisions.recent(model, max(1, min(limit, 100)))

    def next_run(self, model: str) -> datetime | None:
        """When the scheduler evaluates `model` next (None when the scheduler is off)."""
        job = self._scheduler.get_job(f"schedule:{model}") if self._scheduler else None
        return job.next_run_time if job is not None else None

    # -- deciding ---------------------------------------------------------------------

    async def evaluate(self, model: str) -> DecisionRow:
        """Decide now for `model`; record and post the decision; retrain when it says so."""
        schedule = self.configured(model)
        async with self._locks[model]:  # evaluations of one model never overlap
            decision = await self._blocked(schedule) or await self._decide(schedule)
            job_id = None
            if decision.retrain:
                decision, job_id = await self._retrain(schedule, decision)
            row = await self.store.decisions.insert(
                model=model,
                policy=schedule.policy,
                retrain=decision.retrain,
                reason=decision.reason,
                details=decision.details,
                job_id=job_id,
                created_at=time.time(),
            )
            log.info(
                "schedule decided",
                model=model,
                policy=schedule.policy,
                retrain=row.retrain,
                reason=row.reason,
                job_id=job_id,
            )
            await self._post(schedule, row)
            return row

    async def _scheduled(self, model: str) -> None:
        # Called by apscheduler: an exception here would only be logged by it, so it is
        # logged here with the model, and the schedule keeps running.
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self.evaluate(model)
        except Exception:
            log.exception("schedule evaluation failed", model=model)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _blocked(self, schedule: ScheduleSettings) -> Decision | None:
        """A queued, running or paused job of this model: no second one piles up."""
        busy = [j for j in await self.store.jobs.with_status(*ACTIVE) if j.name == schedule.model]
        if not busy:
            return None
        job = busy[0]
        reason = f"job {job.id} of {schedule.model} is still {job.status}; no second retrain"
        return Decision(False, reason, {"blocking_job": job.id, "status": job.status})

    async def _decide(self, schedule: ScheduleSettings) -> Decision:
        situation = await self._situation(schedule)
        if schedule.policy == "cron":
            return decide_cron(situation)
        if schedule.policy == "new_data":
            return decide_new_data(situation)
        if schedule.policy == "metric":
            active = await self.store.models.active(schedule.model)
            return await decide_metric(situation, active[0] if active else None, self._eval.measure)
        samples: list[str] = []
        if self.openai is not None and situation.dataset is not None:
            trained_on = situation.trained_on if situation.model else None
            samples = await unseen_examples(situation.dataset, trained_on, LLM_SAMPLES)
        return await decide_llm(situation, self.openai, samples)

    async def _situation(self, schedule: ScheduleSettings) -> Situation:
        dataset = await self.store.datasets.latest(schedule.dataset)
        model = await self._current_model(schedule.model)
        trained_on = None
        if model is not None and model.dataset_id:
            trained_on = await self.store.datasets.get(model.dataset_id)
        return Situation(schedule, dataset, model, trained_on)

    async def _current_model(self, name: str) -> ModelRow | None:
        """The newest version: the data it saw is what "new since training" counts from.

        Not the active one: a retrained version waits for `!activate`, and counting from
        the older active version would retrain again at every check until then.
        """
        versions = await self.store.models.find(name)
        return versions[0] if versions else None

    async def _retrain(
        self, schedule: ScheduleSettings, decision: Decision
    ) -> tuple[Decision, str | None]:
        """Queue the job; a refused submit turns the decision into a no that says why."""
        dataset = await self.store.datasets.latest(schedule.dataset)
        request = JobRequest(
            dataset=dataset.id if dataset else schedule.dataset,
            base=schedule.base,
            name=schedule.model,
            hyperparameters=dict(schedule.hyperparameters),
            backend=schedule.backend,
        )
        try:
            job = await self.jobs.submit(
                request,
                requested_by=f"schedule:{schedule.model}",
                room_id=await self._room(schedule),
            )
        except TrainbotError as exc:
            reason = f"{decision.reason}; but the retrain job was refused: {exc.message}"
            return Decision(False, reason, {**decision.details, "submit_error": exc.message}), None
        return decision, job.id

    async def _room(self, schedule: ScheduleSettings) -> str | None:
        return schedule.room_id or await self.store.decisions.last_job_room(schedule.model)

    async def _post(self, schedule: ScheduleSettings, row: DecisionRow) -> None:
        room = await self._room(schedule)
        if room is None:
            return
        try:
            await self.notifications.enqueue(
                room, decision_notice(row), source=f"schedule:{row.model}"
            )
        except TrainbotError as exc:  # the outbox is full: the decision is still recorded
            log.warning("schedule notice dropped", model=row.model, error=exc.message)


def decision_notice(row: DecisionRow) -> str:
    """How a decision reads in the room."""
    reason = row.reason.rstrip(".")
    if row.retrain:
        return f"Retraining {row.model} (policy {row.policy}): {reason}. Queued job {row.job_id}."
    return f"Not retraining {row.model} (policy {row.policy}): {reason}."
