"""Retraining decisions of the schedules (owned by the schedule service)."""

from __future__ import annotations

from storage.db import Database


class DecisionRepo:
    """Typed access to its table."""

    def __init__(self, db: Database) -> None:
        self.db = db
