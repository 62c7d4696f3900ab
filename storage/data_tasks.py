"""Data preparation tasks at the chat model (optimize, generate from a template)."""

from __future__ import annotations

from storage.db import Database


class DataTaskRepo:
    """Typed access to its table."""

    def __init__(self, db: Database) -> None:
        self.db = db
