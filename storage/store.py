"""`Store`: the open database with every repository, and the artifact folders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from storage.artifacts import Artifacts
from storage.data_tasks import DataTaskRepo
from storage.datasets import DatasetRepo
from storage.db import Database
from storage.jobs import EventRepo, JobRepo
from storage.predictions import IdempotencyRepo, PredictionRepo
from storage.registry import ModelRepo
from storage.schedules import DecisionRepo
from storage.sources import SourceFetchRepo
from storage.state import StateRepo


@dataclass(frozen=True)
class Store:
    """Everything persistent, opened once by the App and passed to services."""

    db: Database
    artifacts: Artifacts
    jobs: JobRepo
    events: EventRepo
    models: ModelRepo
    datasets: DatasetRepo
    predictions: PredictionRepo
    idempotency: IdempotencyRepo
    state: StateRepo
    source_fetches: SourceFetchRepo
    decisions: DecisionRepo
    data_tasks: DataTaskRepo
    # The one lock around every check-then-act on the catalog: allocating a version,
    # activating or deleting one, checking the queue limit and queueing a job. Held for
    # the checks and the writes only, never across a worker or a remote call, so that
    # no two of them interleave between their awaits.
    catalog: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def open(cls, data_dir: Path) -> Store:
        """Open (and migrate) the database under `data_dir` and create the folders."""
        artifacts = Artifacts(data_dir)
        artifacts.ensure()
        db = await Database.open(artifacts.database)
        return cls(
            db=db,
            artifacts=artifacts,
            jobs=JobRepo(db),
            events=EventRepo(db),
            models=ModelRepo(db),
            datasets=DatasetRepo(db),
            predictions=PredictionRepo(db),
            idempotency=IdempotencyRepo(db),
            state=StateRepo(db),
            source_fetches=SourceFetchRepo(db),
            decisions=DecisionRepo(db),
            data_tasks=DataTaskRepo(db),
        )

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()
