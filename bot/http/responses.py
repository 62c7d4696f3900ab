"""Response bodies: what the API answers, built from storage rows (server paths left out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from storage.datasets import DatasetRow
from storage.jobs import EventRow, JobRow
from storage.predictions import PredictionRow
from storage.registry import ModelRow


class ErrorInfo(BaseModel):
    """What went wrong: `code` for programs, `message` for people."""

    code: str
    message: str
    details: object = None
    request_id: str | None = None


class ErrorOut(BaseModel):
    """Every error answer."""

    error: ErrorInfo


class DatasetOut(BaseModel):
    """A dataset version with its token statistics (and validation report when asked)."""

    id: str
    name: str
    version: int
    label: str
    format: str
    sha256: str
    examples: int
    stats: dict[str, Any]
    report: dict[str, Any] | None = None
    created_by: str
    room_id: str | None
    created_at: float

    @classmethod
    def of(cls, row: DatasetRow, *, report: bool = False) -> DatasetOut:
        """From a stored row."""
        return cls(
            id=row.id,
            name=row.name,
            version=row.version,
            label=row.label,
            format=row.format,
            sha256=row.sha256,
            examples=row.examples,
            stats=row.stats,
            report=row.report if report else None,
            created_by=row.created_by,
            room_id=row.room_id,
            created_at=row.created_at,
        )


class DatasetList(BaseModel):
    """Dataset versions, newest first."""

    datasets: list[DatasetOut]


class UploadOut(BaseModel):
    """A stored upload: the version, its validation report and a readable summary."""

    dataset: DatasetOut
    report: dict[str, Any]
    summary: str


class JobOut(BaseModel):
    """A training job."""

    id: str
    name: str
    status: str
    backend: str
    remote_id: str | None = Field(None, description="Its id at OpenAI (backend openai).")
    dataset_id: str
    base: str
    hyperparameters: dict[str, Any]
    requested_by: str
    room_id: str | None
    result: dict[str, Any] | None
    error: str | None
    model_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float

    @classmethod
    def of(cls, row: JobRow) -> JobOut:
        """From a stored row."""
        return cls(
            id=row.id,
            name=row.name,
            status=row.status,
            backend=row.backend,
            remote_id=row.remote_id,
            dataset_id=row.dataset_id,
            base=row.base,
            hyperparameters=dict(row.spec.get("hyperparameters") or {}),
            requested_by=row.requested_by,
            room_id=row.room_id,
            result=row.result,
            error=row.error,
            model_id=row.model_id,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
        )


class JobList(BaseModel):
    """A page of jobs; pass `next_after` as `after` for the next page."""

    jobs: list[JobOut]
    next_after: str | None


class EventOut(BaseModel):
    """One job event; `seq` counts from 1 and is the SSE event id."""

    seq: int
    event: str
    data: dict[str, Any]
    created_at: float

    @classmethod
    def of(cls, row: EventRow) -> EventOut:
        """From a stored row."""
        return cls(seq=row.seq, event=row.event, data=row.data, created_at=row.created_at)


class EventPage(BaseModel):
    """A page of events; pass `next_after` as `after` for the next page."""

    events: list[EventOut]
    next_after: int


class ModelOut(BaseModel):
    """A registered model version."""

    id: str
    name: str
    version: int
    label: str
    backend: str
    remote_id: str | None
    job_id: str | None
    dataset_id: str | None
    base: str
    metrics: dict[str, Any]
    size_bytes: int
    active: bool
    created_at: float
    kind: str = "full"  # "adapter": a LoRA adapter loaded onto `base`

    @classmethod
    def of(cls, row: ModelRow) -> ModelOut:
        """From a stored row."""
        return cls(
            id=row.id,
            name=row.name,
            version=row.version,
            label=row.label,
            backend=row.backend,
            remote_id=row.remote_id,
            job_id=row.job_id,
            dataset_id=row.dataset_id,
            base=row.base,
            metrics=row.metrics,
            kind=row.kind,
            size_bytes=row.size_bytes,
            active=row.active,
            created_at=row.created_at,
        )


class ModelList(BaseModel):
    """Model versions, newest first."""

    models: list[ModelOut]


class PredictionOut(BaseModel):
    """A saved generation."""

    id: int
    model_id: str
    prompt: str
    params: dict[str, Any]
    output: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    requested_by: str
    created_at: float

    @classmethod
    def of(cls, row: PredictionRow) -> PredictionOut:
        """From a stored row."""
        return cls.model_validate(row, from_attributes=True)


class PredictionList(BaseModel):
    """A page of predictions; pass `next_before` as `before` for the next page."""

    predictions: list[PredictionOut]
    next_before: int | None
