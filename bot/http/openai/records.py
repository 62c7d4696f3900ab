"""What the OpenAI API asks for that a Trainbot job or dataset does not hold itself.

A job's `suffix`, `metadata`, `seed`, method and hyperparameters as asked, and a file's
original name, are kept in the existing `state` table (one JSON value per job or file,
`openai.job.<id>` / `openai.file.<id>`): no new table, and a job or file made elsewhere
simply has none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from storage.store import Store


@dataclass(frozen=True)
class JobExtras:
    """A fine-tuning job's OpenAI-only fields."""

    suffix: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # as asked ("auto" kept)
    method: dict[str, Any] | None = None
    model: str | None = None  # the base as the client named it
    validation_file: str | None = None  # echoed back; training validates on a split


@dataclass(frozen=True)
class FileExtras:
    """An uploaded file's OpenAI-only fields."""

    filename: str
    purpose: str = "fine-tune"


class Records:
    """Read and write the extras of jobs and files."""

    def __init__(self, store: Store) -> None:
        self.state = store.state

    async def job(self, job_id: str) -> JobExtras:
        """A job's extras (empty for a job made outside this API)."""
        raw = await self._get(f"openai.job.{job_id}")
        return JobExtras(**raw) if raw is not None else JobExtras()

    async def put_job(self, job_id: str, extras: JobExtras) -> None:
        """Remember a job's extras."""
        await self.state.set(f"openai.job.{job_id}", json.dumps(asdict(extras)))

    async def file(self, dataset_id: str) -> FileExtras | None:
        """A file's extras, None for a dataset uploaded elsewhere."""
        raw = await self._get(f"openai.file.{dataset_id}")
        return FileExtras(**raw) if raw is not None else None

    async def put_file(self, dataset_id: str, extras: FileExtras) -> None:
        """Remember a file's extras."""
        await self.state.set(f"openai.file.{dataset_id}", json.dumps(asdict(extras)))

    async def forget_file(self, dataset_id: str) -> None:
        """Drop a deleted file's extras."""
        await self.state.delete(f"openai.file.{dataset_id}")

    async def _get(self, key: str) -> dict[str, Any] | None:
        value = await self.state.get(key)
        if value is None:
            return None
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else None
