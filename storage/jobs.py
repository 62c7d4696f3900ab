"""Jobs and their event history."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from bot.core.types import JobStatus
from storage.db import Database

JOB_COLUMNS = (
    "id, name, status, backend, dataset_id, base, spec_json, requested_by, room_id, "
    "result_json, error, model_id, created_at, started_at, finished_at, updated_at, "
    "remote_id, validation_dataset_id"
)


@dataclass(frozen=True)
class JobRow:
    """A training job as stored."""

    id: str
    name: str
    status: JobStatus
    backend: str
    dataset_id: str
    base: str
    spec: dict[str, Any]
    requested_by: str
    room_id: str | None
    result: dict[str, Any] | None
    error: str | None
    model_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    remote_id: str | None
    # The dataset version it validates on; None: a held-out share of `dataset_id`.
    validation_dataset_id: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        """Decode a database row."""
        values = dict(row)
        values["spec"] = json.loads(values.pop("spec_json"))
        result = values.pop("result_json")
        values["result"] = json.loads(result) if result else None
        values["status"] = JobStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class EventRow:
    """One event of a job; `seq` counts from 1 per job and is the SSE event id."""

    job_id: str
    seq: int
    event: str
    data: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EventRow:
        """Decode a database row."""
        return cls(
            job_id=row["job_id"],
            seq=row["seq"],
            event=row["event"],
            data=json.loads(row["data_json"]),
            created_at=row["created_at"],
        )


class JobRepo:
    """Typed access to the jobs table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, job: JobRow) -> None:
        """Store a new job."""
        await self.db.execute(
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES "
            f"({', '.join('?' * len(JOB_COLUMNS.split(',')))})",
            (
                job.id,
                job.name,
                job.status,
                job.backend,
                job.dataset_id,
                job.base,
                json.dumps(job.spec),
                job.requested_by,
                job.room_id,
                json.dumps(job.result) if job.result is not None else None,
                job.error,
                job.model_id,
                job.created_at,
                job.started_at,
                job.finished_at,
                job.updated_at,
                job.remote_id,
                job.validation_dataset_id,
            ),
        )

    async def get(self, job_id: str) -> JobRow | None:
        """One job by exact id."""
        row = await self.db.fetchone(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return JobRow.from_row(row) if row else None

    async def ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with `prefix` (for short ids typed in chat)."""
        rows = await self.db.fetchall(
            "SELECT id FROM jobs WHERE substr(id, 1, ?) = ? LIMIT 5", (len(prefix), prefix)
        )
        return [r["id"] for r in rows]

    async def find(
        self, status: str | None = None, limit: int = 50, after: str | None = None
    ) -> list[JobRow]:
        """Newest first; `after` is the id of the last job of the previous page."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if after:
            where.append("rowid < (SELECT rowid FROM jobs WHERE id = ?)")
            params.append(after)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY rowid DESC LIMIT ?",
            (*params, limit),
        )
        return [JobRow.from_row(r) for r in rows]

    async def with_status(self, *statuses: JobStatus) -> list[JobRow]:
        """Jobs in any of these states, oldest first (the FIFO queue order)."""
        marks = ", ".join("?" for _ in statuses)
        rows = await self.db.fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ({marks}) ORDER BY rowid", statuses
        )
        return [JobRow.from_row(r) for r in rows]

    async def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each state."""
        rows = await self.db.fetchall("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        return {JobStatus(r["status"]): r["n"] for r in rows}

    async def update(self, job_id: str, **fields: Any) -> None:
        """Change some columns (`result` and `spec` are JSON-encoded)."""
        if "result" in fields:
            fields["result_json"] = json.dumps(fields.pop("result"))
        if "spec" in fields:
            fields["spec_json"] = json.dumps(fields.pop("spec"))
        fields["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self.db.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id)
        )

    async def delete(self, job_id: str) -> None:
        """Remove a job and (by cascade) its events."""
        await self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


class EventRepo:
    """The append-only event history of each job."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, job_id: str, event: str, data: dict[str, Any]) -> EventRow:
        """Store the next event of a job and return it with its sequence number."""
        now = time.time()
        # The sequence number is computed inside the INSERT so two appends cannot
        # take the same number; RETURNING hands back exactly the row written.
        row = await self.db.fetchone(
            "INSERT INTO job_events (job_id, seq, event, data_json, created_at) "
            "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM job_events WHERE job_id = ? "
            "RETURNING job_id, seq, event, data_json, created_at",
            (job_id, event, json.dumps(data), now, job_id),
        )
        assert row is not None
        return EventRow.from_row(row)

    async def find(self, job_id: str, after: int = 0, limit: int = 1000) -> list[EventRow]:
        """Events with seq > after, oldest first."""
        rows = await self.db.fetchall(
            "SELECT job_id, seq, event, data_json, created_at FROM job_events "
            "WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )
        return [EventRow.from_row(r) for r in rows]

    async def last(self, job_id: str, event: str | None = None) -> EventRow | None:
        """The newest event of a job (of one kind, if given)."""
        sql = "SELECT job_id, seq, event, data_json, created_at FROM job_events WHERE job_id = ?"
        params: tuple[Any, ...] = (job_id,)
        if event:
            sql += " AND event = ?"
            params = (job_id, event)
        row = await self.db.fetchone(sql + " ORDER BY seq DESC LIMIT 1", params)
        return EventRow.from_row(row) if row else None
