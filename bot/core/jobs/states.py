"""The job state machine: which status may follow which, and what people may ask for."""

from __future__ import annotations

from typing import Literal

from bot.core.errors import Conflict
from bot.core.types import ACTIVE, FINAL, JobStatus

__all__ = ["ACTIONS", "ACTIVE", "FINAL", "STATUSES", "TRANSITIONS", "Action", "Control"]

Action = Literal["cancel", "pause", "resume", "delete"]
Control = Literal["cancel", "pause", "resume"]  # what a backend carries out

S = JobStatus
STATUSES = tuple(JobStatus)

# Going back to QUEUED from VALIDATING_FILES/RUNNING happens only when the service
# restarts or stops (the job resumes from its checkpoint at the next start).
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.VALIDATING_FILES, S.PAUSED, S.CANCELLED, S.FAILED}),
    S.VALIDATING_FILES: frozenset({S.RUNNING, S.FAILED, S.CANCELLED, S.QUEUED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.PAUSED, S.QUEUED}),
    S.PAUSED: frozenset({S.QUEUED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

# The states in which each request makes sense, and why not otherwise.
ACTIONS: dict[Action, frozenset[JobStatus]] = {
    "cancel": ACTIVE,
    "pause": frozenset({S.QUEUED, S.VALIDATING_FILES, S.RUNNING}),
    "resume": frozenset({S.PAUSED}),
    "delete": FINAL,
}


def check_transition(current: JobStatus, target: JobStatus) -> None:
    """Refuse a status change the state machine does not allow (a bug if it happens)."""
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a {current} job cannot become {target}")


def refuse_action(status: JobStatus, action: Action) -> None:
    """Refuse a request with a message saying why, e.g. 'job already succeeded'."""
    if status in ACTIONS[action]:
        return
    if status in FINAL:
        why = f"it already {'was ' if status == S.CANCELLED else ''}{status}"
    elif action == "resume":
        why = f"it is {status}, not paused"
    elif action == "delete":
        why = f"it is still {status}; cancel it first"
    else:
        why = f"it is {status}"
    raise Conflict(f"cannot {action} this job: {why}")
