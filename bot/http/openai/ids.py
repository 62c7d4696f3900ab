"""How Trainbot's ids are spelled in the OpenAI API, and back.

A dataset version is a file (`file-<dataset id>`), a job is `ftjob-<job id>`, an event is
`ftevent-<job id>-<seq>`, a checkpoint `ftckpt-<job id>-<step>`. A registered model
trained by a job is `ft:<base>:<model name>:<job id>`, others are `name@vN`. Plain
Trainbot ids are accepted too, so an id copied from the room works here.
"""

from __future__ import annotations

from storage.registry import ModelRow

FILE = "file-"
JOB = "ftjob-"
EVENT = "ftevent-"
CHECKPOINT = "ftckpt-"
FINE_TUNED = "ft:"


def file_id(dataset_id: str) -> str:
    """The OpenAI file id of a dataset version."""
    return FILE + dataset_id


def job_id(trainbot_id: str) -> str:
    """The OpenAI job id of a Trainbot job."""
    return JOB + trainbot_id


def event_id(job: str, seq: int) -> str:
    """The OpenAI id of a job's event `seq`."""
    return f"{EVENT}{job}-{seq}"


def checkpoint_id(job: str, step: int) -> str:
    """The OpenAI id of a job's checkpoint at `step`."""
    return f"{CHECKPOINT}{job}-{step}"


def model_id(model: ModelRow) -> str:
    """`ft:<base>:<name>:<job id>` for a trained version, else `name@vN`."""
    if model.job_id:
        return f"{FINE_TUNED}{_base_name(model.base)}:{model.name}:{model.job_id}"
    return model.label


def fine_tuned_name(base: str, name: str, job: str) -> str:
    """The model id a job's model will have (known before it is registered)."""
    return f"{FINE_TUNED}{_base_name(base)}:{name}:{job}"


def trainbot_ref(given: str, prefix: str) -> str:
    """The Trainbot id inside an OpenAI id (`ftjob-abc` → `abc`); plain ids pass through."""
    return given.removeprefix(prefix)


def job_of_model(given: str) -> str | None:
    """The job id inside `ft:<base>:<name>:<job id>`, None for any other model name."""
    if not given.startswith(FINE_TUNED) or given.count(":") < 3:
        return None
    return given.rsplit(":", 1)[1] or None


def seq_of_event(given: str, job: str) -> int | None:
    """The seq of `ftevent-<job>-<seq>` (or a bare number), None when it is not one."""
    tail = given.removeprefix(f"{EVENT}{job}-")
    return int(tail) if tail.isascii() and tail.isdigit() and len(tail) < 18 else None


def _base_name(base: str) -> str:
    # A base folder is named by its last part: colons and slashes would break the id.
    return base.rstrip("/").rsplit("/", 1)[-1].replace(":", "-") or "base"
