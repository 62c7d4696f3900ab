"""`JobDraft`: what the local and Ray backends store alike about a job they accept.

Each backend checks a request its own way (resources, memory per worker, where the
dataset is copied); what is left is the same for both: the request's explicit
validation dataset, resolved, and the `NewJob` row the ledger inserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.datasets import DatasetService
from bot.core.jobs.ledger import NewJob
from bot.core.jobs.request import JobRequest
from storage.datasets import DatasetRow


@dataclass(frozen=True)
class JobDraft:
    """A checked request's parts, before its backend gives it an id and a spec."""

    backend: str
    name: str
    dataset: DatasetRow
    base_ref: str
    validation: DatasetRow | None  # the version it validates on instead of a held-out share
    requested_by: str
    room_id: str | None

    @classmethod
    async def resolve(
        cls,
        backend: str,
        request: JobRequest,
        datasets: DatasetService,
        *,
        name: str,
        dataset: DatasetRow,
        base_ref: str,
        requested_by: str,
        room_id: str | None,
    ) -> JobDraft:
        """The draft, with the request's explicit validation dataset resolved (the OpenAI
        face checks that its format matches). Resolved at submit, under the catalog lock:
        the job holds this version (a delete is refused) and a newer version of the same
        name later changes nothing."""
        held = request.validation_dataset
        validation = await datasets.resolve(held) if held else None
        return cls(backend, name, dataset, base_ref, validation, requested_by, room_id)

    def new_job(self, job_id: str, spec: dict[str, Any]) -> NewJob:
        """The row the ledger inserts as queued (`spec`: the stored spec, as a dict)."""
        return NewJob(
            job_id,
            self.name,
            self.backend,
            self.dataset.id,
            self.base_ref,
            spec,
            self.requested_by,
            self.room_id,
            validation_dataset_id=self.validation.id if self.validation else None,
        )
