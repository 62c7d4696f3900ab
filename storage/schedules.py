"""Retraining decisions of the schedules (owned by the schedule service)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.db import Database

COLUMNS = "id, model, policy, retrain, reason, details_json, job_id, created_at"


@dataclass(frozen=True)
class DecisionRow:
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
    def from_row(cls, row: sqlite3.Row) -> DecisionRow:
        """Decode a database row."""
        values = dict(row)
        values["details"] = json.loads(values.pop("details_json"))
        values["retrain"] = bool(values["retrain"])
        return cls(**values)


class DecisionRepo:
    """Typed access to the schedule_decisions table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        *,
        model: str,
        policy: str,
        retrain: bool,
        reason: str,
        details: dict[str, Any],
        job_id: str | None,
        created_at: float,
    ) -> DecisionRow:
        """Store a decision and return it with its id."""
        row = await self.db.fetchone(
            "INSERT INTO schedule_decisions "
            "(model, policy, retrain, reason, details_json, job_id, created_at) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}",
            (
                model,
                policy,
                int(retrain),
                reason,
                json.dumps(details, default=str),
                job_id,
                created_at,
            ),
        )
        assert row is not None
        return DecisionRow.from_row(row)

    async def recent(self, model: str, limit: int = 10) -> list[DecisionRow]:
        """The newest decisions about one model, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM schedule_decisions WHERE model = ? ORDER BY id DESC LIMIT ?",
            (model, limit),
        )
        return [DecisionRow.from_row(r) for r in rows]

    async def last_job_room(self, model: str) -> str | None:
        """The room of the newest job training `model` that was started from a room."""
        row = await self.db.fetchone(
            "SELECT room_id FROM jobs WHERE name = ? AND room_id IS NOT NULL "
            "ORDER BY rowid DESC LIMIT 1",
            (model,),
        )
        return str(row["room_id"]) if row else None
