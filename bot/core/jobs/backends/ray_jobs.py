"""What a Ray job keeps: its settings, its run's key, its stored spec, its refusals.

A Ray job's stored spec is its `TrainSpec` plus a `ray` part: the resources, the attempt
(each start on the cluster is one run, keyed by the job and the attempt), the
cursor (events already mirrored from that actor), failures survived and whether the
room was told the cluster is unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.errors import TrainbotError
from storage.jobs import JobRow


@dataclass(frozen=True)
class RunSettings:
    """The `[ray]` values the job tasks need."""

    storage_path: str
    max_failures: int = 2
    poll_interval_s: float = 0.25
    retry_s: float = 5.0


def run_key(job: JobRow) -> str:
    """The key of the job's run on the cluster: one per attempt (a resume is a new one)."""
    return f"{job.id}-{job.spec['ray']['attempt']}"


def train_spec(job: JobRow) -> dict[str, Any]:
    """The `TrainSpec` part of the stored spec (without the Ray bookkeeping)."""
    return {key: value for key, value in job.spec.items() if key != "ray"}


class Unreachable(TrainbotError):
    """The cluster does not answer a control request (503: try again)."""

    status = 503
    code = "unavailable"
