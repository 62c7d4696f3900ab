"""The job state machine: which status may follow which, and what people may ask for."""

from __future__ import annotations

from bot.core.errors import Conflict

STATUSES = (
    "queued",
    "validating_files",
    "running",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
)
FINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"queued", "validating_files", "running", "paused"})

# Going back to "queued" from validating_files/running happens only when the service
# restarts or stops (the job resumes from its checkpoint at the next start).
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"validating_files", "paused", "cancelled", "failed"}),
    "validating_files": frozenset({"running", "failed", "cancelled", "queued"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "paused", "queued"}),
    "paused": frozenset({"queued", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

# The states in which each request makes sense, and why not otherwise.
ACTIONS: dict[str, frozenset[str]] = {
    "cancel": frozenset({"queued", "validating_files", "running", "paused"}),
    "pause": frozenset({"queued", "validating_files", "running"}),
    "resume": frozenset({"paused"}),
    "delete": FINAL,
}


def check_transition(current: str, target: str) -> None:
    """Refuse a status change the state machine does not allow (a bug if it happens)."""
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a {current} job cannot become {target}")


def refuse_action(status: str, action: str) -> None:
    """Refuse a request with a message saying why, e.g. 'job already succeeded'."""
    if status in ACTIONS[action]:
        return
    if status in FINAL:
        why = f"it already {'was ' if status == 'cancelled' else ''}{status}"
    elif action == "resume":
        why = f"it is {status}, not paused"
    elif action == "delete":
        why = f"it is still {status}; cancel it first"
    else:
        why = f"it is {status}"
    raise Conflict(f"cannot {action} this job: {why}")
