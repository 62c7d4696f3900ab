"""Data preparation tasks at the chat model (optimize, generate from a template)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from bot.core.types import JobStatus
from storage.db import Database

COLUMNS = (
    "id, kind, status, dataset_id, dataset_name, params_json, progress_json, "
    "result_dataset_id, result_label, report_json, error, requested_by, room_id, "
    "created_at, finished_at"
)
JSON_FIELDS = ("params", "progress", "report")
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


@dataclass(frozen=True)
class DataTaskRow:
    """One task as stored: what it works on, how far it got, and what it produced."""

    id: str
    kind: str  # "optimize" or "generate"
    status: JobStatus  # RUNNING, SUCCEEDED or FAILED
    dataset_id: str | None  # the version optimized (None for generate)
    dataset_name: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result_dataset_id: str | None
    result_label: str | None
    report: dict[str, Any]
    error: str | None
    requested_by: str
    room_id: str | None
    created_at: float
    finished_at: float | None

    @property
    def finished(self) -> bool:
        """True once the task succeeded or failed."""
        return self.status in FINISHED

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DataTaskRow:
        """Decode a database row."""
        values = dict(row)
        for name in JSON_FIELDS:
            values[name] = json.loads(values.pop(f"{name}_json"))
        values["status"] = JobStatus(values["status"])
        return cls(**values)


class DataTaskRepo:
    """Typed access to the data_tasks table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, task: DataTaskRow) -> None:
        """Store a new task."""
        await self.db.execute(
            f"INSERT INTO data_tasks ({COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.kind,
                task.status,
                task.dataset_id,
                task.dataset_name,
                json.dumps(task.params),
                json.dumps(task.progress),
                task.result_dataset_id,
                task.result_label,
                json.dumps(task.report),
                task.error,
                task.requested_by,
                task.room_id,
                task.created_at,
                task.finished_at,
            ),
        )

    async def get(self, task_id: str) -> DataTaskRow | None:
        """One task by id."""
        row = await self.db.fetchone(f"SELECT {COLUMNS} FROM data_tasks WHERE id = ?", (task_id,))
        return DataTaskRow.from_row(row) if row else None

    async def find(self, limit: int = 50) -> list[DataTaskRow]:
        """The newest tasks first."""
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM data_tasks ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [DataTaskRow.from_row(r) for r in rows]

    async def with_status(self, *statuses: JobStatus) -> list[DataTaskRow]:
        """Tasks in any of `statuses`, oldest first."""
        marks = ", ".join("?" for _ in statuses)
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM data_tasks WHERE status IN ({marks}) ORDER BY created_at",
            statuses,
        )
        return [DataTaskRow.from_row(r) for r in rows]

    async def update(self, task_id: str, **fields: Any) -> None:
        """Change some columns (`params`, `progress` and `report` are JSON-encoded)."""
        for name in JSON_FIELDS:
            if name in fields:
                fields[f"{name}_json"] = json.dumps(fields.pop(name))
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self.db.execute(
            f"UPDATE data_tasks SET {assignments} WHERE id = ?", (*fields.values(), task_id)
        )
