"""Data source fetches and their outcomes (owned by the sources service)."""

from __future__ import annotations

from storage.db import Database


class SourceFetchRepo:
    """Typed access to its table."""

    def __init__(self, db: Database) -> None:
        self.db = db
