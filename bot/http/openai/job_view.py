"""A Trainbot job, its events and checkpoints as OpenAI's fine-tuning objects.

Pure translation: everything comes from the stored job row, its events, the model it
registered and the extras this API kept (`records.py`).
"""

from __future__ import annotations

from typing import Any

from bot.core.types import JobStatus
from bot.http.openai import ids
from bot.http.openai.records import JobExtras
from storage.jobs import EventRow, JobRow
from trainer.spec import Hyperparameters

DEFAULT_LR = Hyperparameters().learning_rate
LEVELS = {"warning": "warn", "warn": "warn", "error": "error"}
STATE_TEXT: dict[str, str] = {
    JobStatus.QUEUED: "Fine-tuning job queued",
    JobStatus.VALIDATING_FILES: "Validating training file",
    JobStatus.RUNNING: "Fine-tuning job started",
    JobStatus.PAUSED: "Fine-tuning job paused",
    JobStatus.SUCCEEDED: "Fine-tuning job succeeded",
    JobStatus.FAILED: "Fine-tuning job failed",
    JobStatus.CANCELLED: "Fine-tuning job cancelled",
}


def job_object(
    job: JobRow, extras: JobExtras, events: list[EventRow], fine_tuned_model: str | None
) -> dict[str, Any]:
    """OpenAI's `fine_tuning.job` for a Trainbot job."""
    hyper = _hyperparameters(job)
    return {
        "id": ids.job_id(job.id),
        "object": "fine_tuning.job",
        "created_at": int(job.created_at),
        "finished_at": int(job.finished_at) if job.finished_at else None,
        "model": extras.model or job.base,
        "fine_tuned_model": fine_tuned_model,
        "organization_id": "trainbot",
        "status": str(job.status),
        "training_file": ids.file_id(job.dataset_id),
        "validation_file": extras.validation_file,
        "result_files": [],
        "hyperparameters": hyper,
        "method": _method(extras, hyper),
        "seed": int(job.spec.get("hyperparameters", {}).get("seed", 0)),
        "trained_tokens": _trained_tokens(job),
        "estimated_finish": _estimated_finish(job, events),
        "error": _error(job),
        "user_provided_suffix": extras.suffix,
        "metadata": extras.metadata or None,
        "integrations": [],
    }


def event_object(job_id: str, event: EventRow) -> dict[str, Any]:
    """OpenAI's `fine_tuning.job.event` for one stored job event."""
    message, kind, level, data = describe(event)
    return {
        "id": ids.event_id(job_id, event.seq),
        "object": "fine_tuning.job.event",
        "created_at": int(event.created_at),
        "level": level,
        "message": message,
        "type": kind,
        "data": data,
    }


def checkpoint_objects(
    job: JobRow, events: list[EventRow], fine_tuned_model: str | None
) -> list[dict[str, Any]]:
    """Every checkpoint a job wrote, newest first, with the losses known at its step."""
    found: list[dict[str, Any]] = []
    train_loss: float | None = None
    valid_loss: float | None = None
    model = fine_tuned_model or ids.fine_tuned_name(job.base, job.name, job.id)
    for event in events:
        if event.event == "progress":
            train_loss = event.data.get("loss")
        elif event.event == "eval":
            valid_loss = event.data.get("eval_loss")
        elif event.event == "checkpoint":
            step = int(event.data.get("step", 0))
            found.append(_checkpoint(job.id, event, step, model, train_loss, valid_loss))
    return found[::-1]


def describe(event: EventRow) -> tuple[str, str, str, dict[str, Any]]:
    """(message, type "message"|"metrics", level, data) of a stored event."""
    d = event.data
    if event.event == "progress":
        metrics = {"step": d.get("step"), "total_steps": d.get("total_steps")}
        metrics |= {"train_loss": d.get("loss"), "tokens_seen": d.get("tokens_seen")}
        text = f"Step {d.get('step')}/{d.get('total_steps')}: training loss={_f(d.get('loss'))}"
        return text, "metrics", "info", metrics
    if event.event == "eval":
        metrics = {"step": d.get("step"), "valid_loss": d.get("eval_loss")}
        return (
            f"Step {d.get('step')}: validation loss={_f(d.get('eval_loss'))}",
            "metrics",
            "info",
            metrics,
        )
    return _message(event.event, d), "message", _level(event.event, d), {}


def _message(name: str, d: dict[str, Any]) -> str:
    if name == "state":
        return _state_message(d)
    if name == "started":
        return (
            f"Fine-tuning started: {d.get('total_steps')} steps, {d.get('train_examples')} "
            f"examples, {d.get('val_examples')} for validation"
        )
    if name == "checkpoint":
        return f"Checkpoint created at step {d.get('step')}"
    if name == "completed":
        return "The job has successfully completed"
    if name == "failed":
        return f"Fine-tuning failed: {d.get('error')}"
    if name == "stopped":
        return f"Training stopped at step {d.get('step')} ({d.get('reason') or 'requested'})"
    if name == "log":
        return str(d.get("message", ""))
    return name.replace("_", " ")


def _state_message(d: dict[str, Any]) -> str:
    status = str(d.get("status"))
    text = STATE_TEXT.get(status, f"Job status: {status}")
    detail = d.get("error") or d.get("reason")
    return f"{text}: {detail}" if detail else text


def _level(name: str, d: dict[str, Any]) -> str:
    if name == "failed" or (name == "state" and d.get("status") == JobStatus.FAILED):
        return "error"
    if name == "log":
        return LEVELS.get(str(d.get("level")), "info")
    return "info"


def _hyperparameters(job: JobRow) -> dict[str, Any]:
    hp = job.spec.get("hyperparameters", {})
    epochs = hp.get("epochs")
    n_epochs = int(epochs) if isinstance(epochs, float) and epochs.is_integer() else epochs
    lr = hp.get("learning_rate")
    multiplier = round(lr / DEFAULT_LR, 6) if isinstance(lr, int | float) else "auto"
    return {
        "n_epochs": n_epochs if n_epochs is not None else "auto",
        "batch_size": hp.get("batch_size", "auto"),
        "learning_rate_multiplier": multiplier,
    }


def _method(extras: JobExtras, hyper: dict[str, Any]) -> dict[str, Any]:
    asked = extras.method or {"type": "supervised"}
    kind = "dpo" if asked.get("type") == "dpo" else "supervised"
    settings: dict[str, Any] = {"hyperparameters": dict(hyper)}
    if kind == "dpo":
        # As the client sent it: `method.dpo.hyperparameters.beta` (a number or "auto").
        beta = asked.get("dpo", {}).get("hyperparameters", {}).get("beta", "auto")
        settings["hyperparameters"]["beta"] = beta
    return {"type": kind, kind: settings}


def _trained_tokens(job: JobRow) -> int | None:
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return None
    tokens = job.result.get("tokens_seen")
    return int(tokens) if isinstance(tokens, int | float) else None


def _estimated_finish(job: JobRow, events: list[EventRow]) -> int | None:
    if job.status != JobStatus.RUNNING:
        return None
    for event in reversed(events):
        if event.event == "progress" and isinstance(event.data.get("eta_s"), int | float):
            return int(event.created_at + event.data["eta_s"])
    return None


def _error(job: JobRow) -> dict[str, Any] | None:
    if job.status != JobStatus.FAILED:
        return None
    return {"code": "training_failed", "message": job.error or "training failed", "param": None}


def _checkpoint(
    job_id: str,
    event: EventRow,
    step: int,
    model: str,
    train_loss: float | None,
    valid_loss: float | None,
) -> dict[str, Any]:
    return {
        "id": ids.checkpoint_id(job_id, step),
        "object": "fine_tuning.job.checkpoint",
        "created_at": int(event.created_at),
        "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{step}",
        "fine_tuning_job_id": ids.job_id(job_id),
        "step_number": step,
        "metrics": {
            "step": float(step),
            "train_loss": train_loss,
            "train_mean_token_accuracy": None,
            "valid_loss": valid_loss,
            "valid_mean_token_accuracy": None,
            "full_valid_loss": valid_loss,
            "full_valid_mean_token_accuracy": None,
        },
    }


def _f(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"
