"""Schedule routes: retraining policies, their decisions, evaluate one now."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.core.schedules.service import ScheduleView
from bot.http.routing import Call, Route, json_response
from storage.schedules import DecisionRow


class DecisionOut(BaseModel):
    """One evaluation of a schedule: retrain or not, why, and the job it queued."""

    id: int
    model: str
    policy: str
    retrain: bool
    reason: str
    details: dict[str, Any]
    job_id: str | None
    created_at: float

    @classmethod
    def of(cls, row: DecisionRow) -> DecisionOut:
        """From a stored row."""
        return cls(
            id=row.id,
            model=row.model,
            policy=row.policy,
            retrain=row.retrain,
            reason=row.reason,
            details=row.details,
            job_id=row.job_id,
            created_at=row.created_at,
        )


class DecisionList(BaseModel):
    """Decisions, newest first."""

    decisions: list[DecisionOut]


class ScheduleOut(BaseModel):
    """A configured schedule, when it checks next, and its newest decisions."""

    model: str
    dataset: str
    policy: str
    cron: str | None
    every: str | None = Field(description="How often it checks when there is no cron line.")
    min_new_records: int
    metric_threshold_pct: float
    room_id: str | None
    backend: str
    base: str | None
    hyperparameters: dict[str, float]
    next_run: float | None = Field(description="Unix time of the next check (null: off).")
    decisions: list[DecisionOut]

    @classmethod
    def of(cls, view: ScheduleView) -> ScheduleOut:
        """From the service's view."""
        s = view.schedule
        return cls(
            model=s.model,
            dataset=s.dataset,
            policy=s.policy,
            cron=s.cron,
            every=None if s.cron else s.every,
            min_new_records=s.min_new_records,
            metric_threshold_pct=s.metric_threshold_pct,
            room_id=s.room_id,
            backend=s.backend,
            base=s.base,
            hyperparameters=s.hyperparameters,
            next_run=view.next_run.timestamp() if view.next_run else None,
            decisions=[DecisionOut.of(d) for d in view.decisions],
        )


class ScheduleList(BaseModel):
    """Every configured schedule."""

    schedules: list[ScheduleOut]


class DecisionQuery(BaseModel):
    """How many decisions."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=100, description="Newest decisions to list.")


async def list_schedules(call: Call) -> web.StreamResponse:
    """Every schedule with its next check and last three decisions."""
    views = await call.services.schedules.overview()
    return json_response(ScheduleList(schedules=[ScheduleOut.of(v) for v in views]))


async def schedule_decisions(call: Call) -> web.StreamResponse:
    """The newest decisions about one model, newest first."""
    q = call.query_as(DecisionQuery)
    rows = await call.services.schedules.history(call.param("model"), q.limit)
    return json_response(DecisionList(decisions=[DecisionOut.of(r) for r in rows]))


async def check_schedule(call: Call) -> web.StreamResponse:
    """Evaluate a schedule now; the decision is recorded and posted like a scheduled one."""
    row = await call.services.schedules.evaluate(call.param("model"))
    return json_response(DecisionOut.of(row))


ROUTES = (
    Route(
        "GET",
        "/v1/schedules",
        list_schedules,
        "List retraining schedules",
        "schedules",
        response=ScheduleList,
    ),
    Route(
        "GET",
        "/v1/schedules/{model}/decisions",
        schedule_decisions,
        "Retraining decisions of a model",
        "schedules",
        query=DecisionQuery,
        response=DecisionList,
        errors=(404, 422),
    ),
    Route(
        "POST",
        "/v1/schedules/{model}/check",
        check_schedule,
        "Evaluate a schedule now",
        "schedules",
        response=DecisionOut,
        errors=(404,),
    ),
)
