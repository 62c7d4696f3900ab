"""Small key/value state that must survive restarts (the Matrix sync token, …)."""

from __future__ import annotations

import time

from storage.db import Database


class StateRepo:
    """`get`/`set` of string values by key; matches the Matrix layer's StateStore protocol."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        """The value, or None when unset."""
        row = await self.db.fetchone("SELECT value FROM state WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set(self, key: str, value: str) -> None:
        """Store a value, replacing any previous one."""
        await self.db.execute(
            "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (key, value, time.time()),
        )

    async def delete(self, key: str) -> None:
        """Forget a key."""
        await self.db.execute("DELETE FROM state WHERE key = ?", (key,))
