"""Dataset versions: never overwritten, each upload is a new version of its name."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.db import Database

COLUMNS = (
    "id, name, version, format, path, sha256, examples, report_json, stats_json, "
    "created_by, room_id, created_at"
)


@dataclass(frozen=True)
class DatasetRow:
    """One stored dataset version."""

    id: str
    name: str
    version: int
    format: str
    path: str
    sha256: str
    examples: int
    report: dict[str, Any]
    stats: dict[str, Any]
    created_by: str
    room_id: str | None
    created_at: float

    @property
    def label(self) -> str:
        """`name@v2`."""
        return f"{self.name}@v{self.version}"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DatasetRow:
        """Decode a database row."""
        values = dict(row)
        values["report"] = json.loads(values.pop("report_json"))
        values["stats"] = json.loads(values.pop("stats_json"))
        return cls(**values)


class DatasetRepo:
    """Typed access to the datasets table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, ds: DatasetRow) -> None:
        """Store a new version."""
        await self.db.execute(
            f"INSERT INTO datasets ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ds.id,
                ds.name,
                ds.version,
                ds.format,
                ds.path,
                ds.sha256,
                ds.examples,
                json.dumps(ds.report),
                json.dumps(ds.stats),
                ds.created_by,
                ds.room_id,
                ds.created_at,
            ),
        )

    async def next_version(self, name: str) -> int:
        """The version number the next upload of this name gets."""
        row = await self.db.fetchone(
            "SELECT MAX(version) AS v FROM datasets WHERE name = ?", (name,)
        )
        return int(row["v"] or 0) + 1 if row else 1

    async def get(self, dataset_id: str) -> DatasetRow | None:
        """One version by exact id."""
        row = await self.db.fetchone(f"SELECT {COLUMNS} FROM datasets WHERE id = ?", (dataset_id,))
        return DatasetRow.from_row(row) if row else None

    async def latest(self, name: str) -> DatasetRow | None:
        """The newest version of a name."""
        row = await self.db.fetchone(
            f"SELECT {COLUMNS} FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
        )
        return DatasetRow.from_row(row) if row else None

    async def get_version(self, name: str, version: int) -> DatasetRow | None:
        """One version by name and number."""
        row = await self.db.fetchone(
            f"SELECT {COLUMNS} FROM datasets WHERE name = ? AND version = ?", (name, version)
        )
        return DatasetRow.from_row(row) if row else None

    async def ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with `prefix`."""
        rows = await self.db.fetchall(
            "SELECT id FROM datasets WHERE substr(id, 1, ?) = ? LIMIT 5", (len(prefix), prefix)
        )
        return [r["id"] for r in rows]

    async def find(self, name: str | None = None) -> list[DatasetRow]:
        """All versions (of one name), newest first."""
        if name:
            rows = await self.db.fetchall(
                f"SELECT {COLUMNS} FROM datasets WHERE name = ? ORDER BY version DESC", (name,)
            )
        else:
            rows = await self.db.fetchall(f"SELECT {COLUMNS} FROM datasets ORDER BY rowid DESC")
        return [DatasetRow.from_row(r) for r in rows]

    async def delete(self, dataset_id: str) -> None:
        """Remove a version's row."""
        await self.db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
