"""Room notices waiting for delivery: one row each, oldest first (owned by the outbox)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Database

COLUMNS = "id, room_id, text, source, markdown, created_at"


@dataclass(frozen=True)
class NoticeRow:
    """A message for a room. `text` is plain unless `markdown` (the bot's own sentences
    only); `source` says who queued it."""

    id: str
    room_id: str
    text: str
    source: str
    created_at: float
    markdown: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> NoticeRow:
        """Decode a database row."""
        values = dict(row)
        values["markdown"] = bool(values["markdown"])
        return cls(**values)


class NoticeRepo:
    """Typed access to the notices table: a FIFO with a length limit."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, notice: NoticeRow, max_pending: int) -> bool:
        """Queue a notice; False (nothing written) when `max_pending` are already waiting.

        The count and the insert are one statement, so concurrent callers cannot both
        slip past the limit.
        """
        added = await self.db.execute(
            f"INSERT INTO notices ({COLUMNS}) SELECT ?, ?, ?, ?, ?, ? "
            "WHERE (SELECT COUNT(*) FROM notices) < ?",
            (
                notice.id,
                notice.room_id,
                notice.text,
                notice.source,
                int(notice.markdown),
                notice.created_at,
                max_pending,
            ),
        )
        return added == 1

    async def count(self) -> int:
        """Notices waiting."""
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM notices")
        return int(row["n"]) if row else 0

    async def pending(self) -> list[NoticeRow]:
        """Every waiting notice, oldest first."""
        rows = await self.db.fetchall(f"SELECT {COLUMNS} FROM notices ORDER BY seq")
        return [NoticeRow.from_row(row) for row in rows]

    async def remove(self, ids: tuple[str, ...]) -> None:
        """Forget delivered notices."""
        if ids:
            marks = ", ".join("?" * len(ids))
            await self.db.execute(f"DELETE FROM notices WHERE id IN ({marks})", ids)
