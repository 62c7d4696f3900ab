"""Saved generations and idempotency keys."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from storage.db import Database

COLUMNS = (
    "id, model_id, prompt, params_json, output, prompt_tokens, completion_tokens, latency_s, "
    "requested_by, created_at"
)


@dataclass(frozen=True)
class PredictionRow:
    """One generation: what was asked, with what, what came back, for whom."""

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
    def from_row(cls, row: sqlite3.Row) -> PredictionRow:
        """Decode a database row."""
        values = dict(row)
        values["params"] = json.loads(values.pop("params_json"))
        return cls(**values)


class PredictionRepo:
    """Typed access to the predictions table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        model_id: str,
        prompt: str,
        params: dict[str, Any],
        output: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        requested_by: str,
    ) -> PredictionRow:
        """Save a generation and return it with its id."""
        row = await self.db.fetchone(
            f"INSERT INTO predictions ({COLUMNS.removeprefix('id, ')}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}",
            (
                model_id,
                prompt,
                json.dumps(params),
                output,
                prompt_tokens,
                completion_tokens,
                latency_s,
                requested_by,
                time.time(),
            ),
        )
        assert row is not None
        return PredictionRow.from_row(row)

    async def find(
        self, model_id: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[PredictionRow]:
        """Newest first; `before` pages backwards by id."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if model_id:
            where.append("model_id = ?")
            params.append(model_id)
        if before:
            where.append("id < ?")
            params.append(before)
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM predictions WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [PredictionRow.from_row(r) for r in rows]


@dataclass(frozen=True)
class IdempotencyRecord:
    """The job a request with this key created, and a hash of that request's body."""

    job_id: str
    request_hash: str


class IdempotencyRepo:
    """Keys of `Idempotency-Key` headers, per client."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, client: str, key: str) -> IdempotencyRecord | None:
        """The record for a key, if the client used it before."""
        row = await self.db.fetchone(
            "SELECT job_id, request_hash FROM idempotency_keys WHERE client = ? AND key = ?",
            (client, key),
        )
        return IdempotencyRecord(row["job_id"], row["request_hash"]) if row else None

    async def put(self, client: str, key: str, request_hash: str, job_id: str) -> None:
        """Remember which job a key created."""
        await self.db.execute(
            "INSERT INTO idempotency_keys (client, key, request_hash, job_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (client, key, request_hash, job_id, time.time()),
        )
