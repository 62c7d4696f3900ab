"""Data source fetches and their outcomes (owned by the sources service)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Database

COLUMNS = (
    "id, source, trigger, started_at, finished_at, ok, items, new_items, skipped, "
    "dataset_id, dataset_label, error"
)
# Older fetches are forgotten: `!sources` shows the last one, the API a few more.
KEEP_PER_SOURCE = 100


@dataclass(frozen=True)
class SourceFetchRow:
    """One fetch: what it found, what was new, the version it wrote or why it failed."""

    id: int
    source: str
    trigger: str
    started_at: float
    finished_at: float
    ok: bool
    items: int
    new_items: int
    skipped: int
    dataset_id: str | None
    dataset_label: str | None
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SourceFetchRow:
        """Decode a database row."""
        values = dict(row)
        values["ok"] = bool(values["ok"])
        return cls(**values)

    @property
    def outcome(self) -> str:
        """`ok: 12 items, 3 new → news@v4`, `ok: 12 items, none new`, `failed: …`."""
        if not self.ok:
            return f"failed: {self.error}"
        found = f"ok: {self.items} item{'' if self.items == 1 else 's'}"
        if self.dataset_label:
            return f"{found}, {self.new_items} new → {self.dataset_label}"
        return f"{found}, none new"


class SourceFetchRepo:
    """Typed access to the source_fetches table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, row: SourceFetchRow) -> SourceFetchRow:
        """Record a fetch (its `id` is assigned here) and forget the oldest beyond a limit."""
        await self.db.transaction(
            [
                (
                    f"INSERT INTO source_fetches ({COLUMNS.removeprefix('id, ')}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.source,
                        row.trigger,
                        row.started_at,
                        row.finished_at,
                        int(row.ok),
                        row.items,
                        row.new_items,
                        row.skipped,
                        row.dataset_id,
                        row.dataset_label,
                        row.error,
                    ),
                ),
                (
                    "DELETE FROM source_fetches WHERE source = ? AND id <= (SELECT id FROM "
                    "source_fetches WHERE source = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (row.source, row.source, KEEP_PER_SOURCE),
                ),
            ]
        )
        newest = await self.recent(row.source, 1)
        return newest[0]

    async def recent(self, source: str, limit: int = 10) -> list[SourceFetchRow]:
        """The newest fetches of a source, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM source_fetches WHERE source = ? ORDER BY id DESC LIMIT ?",
            (source, limit),
        )
        return [SourceFetchRow.from_row(r) for r in rows]

    def last_started_now(self, source: str) -> float | None:
        """When the newest fetch of a source started (a read in the loop's thread, for
        scheduling at start-up, before any write of this process)."""
        rows = self.db.read_now(
            "SELECT MAX(started_at) AS t FROM source_fetches WHERE source = ?", (source,)
        )
        return float(rows[0]["t"]) if rows and rows[0]["t"] is not None else None
