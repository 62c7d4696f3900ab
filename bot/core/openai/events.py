"""How the API's fine-tuning events and statuses read as Trainbot job events.

A metrics event becomes a `progress` event with the fields the room's progress message,
SSE clients and `!status` already read (`step`, `total_steps`, `loss`); every other event
becomes a `log` event with the API's message.
"""

from __future__ import annotations

from typing import Any

from bot.core.openai.remote import RemoteEvent
from bot.core.types import JobStatus
from storage.jobs import EventRow

LEVELS = {"info": "info", "warn": "warning", "error": "error"}
# Remote statuses in which Trainbot keeps polling (and its own matching status).
WAITING = frozenset({JobStatus.VALIDATING_FILES, JobStatus.QUEUED})


def mirrored(event: RemoteEvent) -> tuple[str, dict[str, Any]]:
    """(event name, data) of the Trainbot event that mirrors one API event."""
    data = event.data
    step = data.get("step")
    if event.type == "metrics" and isinstance(step, int | float):
        progress: dict[str, Any] = {
            "step": int(step),
            "total_steps": int(data.get("total_steps") or 0),
            "loss": data.get("train_loss"),
            "remote_event_id": event.id,
        }
        if data.get("valid_loss") is not None:
            progress["eval_loss"] = data["valid_loss"]
        if data.get("train_mean_token_accuracy") is not None:
            progress["token_accuracy"] = data["train_mean_token_accuracy"]
        return "progress", progress
    level = LEVELS.get(event.level, "info")
    return "log", {"level": level, "message": event.message, "remote_event_id": event.id}


def result_metrics(
    last_progress: EventRow | None, trained_tokens: int | None, duration_s: float | None
) -> dict[str, Any]:
    """The metrics a finished remote job reports (the keys local jobs use where they exist)."""
    metrics: dict[str, Any] = {}
    if last_progress is not None:
        data = last_progress.data
        metrics["steps"] = data.get("step")
        if data.get("loss") is not None:
            metrics["train_loss"] = data["loss"]
        if data.get("eval_loss") is not None:
            metrics["eval_loss"] = data["eval_loss"]
    if trained_tokens is not None:
        metrics["tokens_seen"] = trained_tokens
    if duration_s is not None:
        metrics["duration_s"] = round(duration_s, 3)
    return metrics
