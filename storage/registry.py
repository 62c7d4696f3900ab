"""Model versions: `name@vN`, one active version per name."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.db import Database

COLUMNS = (
    "id, name, version, backend, path, remote_id, job_id, dataset_id, base, metrics_json, "
    "size_bytes, active, created_at, kind, base_path"
)


@dataclass(frozen=True)
class ModelRow:
    """One registered model version."""

    id: str
    name: str
    version: int
    backend: str
    path: str
    remote_id: str | None
    job_id: str | None
    dataset_id: str | None
    base: str
    metrics: dict[str, Any]
    size_bytes: int
    active: bool
    created_at: float
    kind: str = "full"  # "full" or "adapter" (a LoRA adapter that loads onto `base_path`)
    base_path: str = ""  # an adapter's base folder (`base` names its version, if registered)

    @property
    def is_adapter(self) -> bool:
        """Whether this version is a LoRA adapter that needs its base to load."""
        return self.kind == "adapter"

    @property
    def label(self) -> str:
        """`name@v3`, how people refer to a version."""
        return f"{self.name}@v{self.version}"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ModelRow:
        """Decode a database row."""
        values = dict(row)
        values["metrics"] = json.loads(values.pop("metrics_json"))
        values["active"] = bool(values["active"])
        return cls(**values)


class ModelRepo:
    """Typed access to the models table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, model: ModelRow) -> None:
        """Store a new version (its number must be `next_version(name)`)."""
        await self.db.execute(
            f"INSERT INTO models ({COLUMNS}) VALUES ({', '.join('?' * 15)})",
            (
                model.id,
                model.name,
                model.version,
                model.backend,
                model.path,
                model.remote_id,
                model.job_id,
                model.dataset_id,
                model.base,
                json.dumps(model.metrics),
                model.size_bytes,
                int(model.active),
                model.created_at,
                model.kind,
                model.base_path,
            ),
        )

    async def next_version(self, name: str) -> int:
        """The version number the next model of this name gets."""
        row = await self.db.fetchone("SELECT MAX(version) AS v FROM models WHERE name = ?", (name,))
        return int(row["v"] or 0) + 1 if row else 1

    async def get(self, model_id: str) -> ModelRow | None:
        """One version by exact id."""
        row = await self.db.fetchone(f"SELECT {COLUMNS} FROM models WHERE id = ?", (model_id,))
        return ModelRow.from_row(row) if row else None

    async def get_version(self, name: str, version: int) -> ModelRow | None:
        """One version by name and number."""
        row = await self.db.fetchone(
            f"SELECT {COLUMNS} FROM models WHERE name = ? AND version = ?", (name, version)
        )
        return ModelRow.from_row(row) if row else None

    async def ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with `prefix`."""
        rows = await self.db.fetchall(
            "SELECT id FROM models WHERE substr(id, 1, ?) = ? LIMIT 5", (len(prefix), prefix)
        )
        return [r["id"] for r in rows]

    async def find(self, name: str | None = None) -> list[ModelRow]:
        """All versions (of one name), newest first."""
        if name:
            rows = await self.db.fetchall(
                f"SELECT {COLUMNS} FROM models WHERE name = ? ORDER BY version DESC", (name,)
            )
        else:
            rows = await self.db.fetchall(f"SELECT {COLUMNS} FROM models ORDER BY rowid DESC")
        return [ModelRow.from_row(r) for r in rows]

    async def active(self, name: str | None = None) -> list[ModelRow]:
        """Active versions (of one name), most recently created first."""
        sql = f"SELECT {COLUMNS} FROM models WHERE active = 1"
        params: tuple[Any, ...] = ()
        if name:
            sql += " AND name = ?"
            params = (name,)
        rows = await self.db.fetchall(sql + " ORDER BY created_at DESC", params)
        return [ModelRow.from_row(r) for r in rows]

    async def activate(self, model: ModelRow) -> None:
        """Make this version the active one of its name, atomically."""
        await self.db.transaction(
            [
                ("UPDATE models SET active = 0 WHERE name = ? AND active = 1", (model.name,)),
                ("UPDATE models SET active = 1 WHERE id = ?", (model.id,)),
            ]
        )

    async def adapters_of(self, model_id: str) -> list[ModelRow]:
        """Adapter versions whose base is this version, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM models WHERE base = ? AND kind = 'adapter' ORDER BY rowid DESC",
            (model_id,),
        )
        return [ModelRow.from_row(r) for r in rows]

    async def delete(self, model_id: str) -> None:
        """Remove a version's row."""
        await self.db.execute("DELETE FROM models WHERE id = ?", (model_id,))
