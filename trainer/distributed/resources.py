"""What a Ray job trains on: its data-parallel workers and what each of them holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resources:
    """Where a job trains: data-parallel workers and what each of them holds."""

    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    # Custom Ray resources each worker also holds (`[ray] worker_resources`): Ray places
    # the workers only on nodes that offer them (`ray start --resources=...`).
    custom: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (stored with the job)."""
        return {
            "workers": self.workers,
            "gpus_per_worker": self.gpus_per_worker,
            "cpus_per_worker": self.cpus_per_worker,
            "custom": dict(self.custom),
        }
