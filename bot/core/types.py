"""Types every package shares: the job states. (Training events: `trainer.events`.)"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """The one set of job states (the state machine is `bot.core.jobs.states`)."""

    QUEUED = "queued"
    VALIDATING_FILES = "validating_files"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the job is over (succeeded, failed or cancelled)."""
        return self in FINAL

    @property
    def label(self) -> str:
        """How people read it: "validating files"."""
        return self.value.replace("_", " ")


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset(JobStatus) - FINAL
