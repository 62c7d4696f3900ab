"""What a training run reports, event by event: one TypedDict per event name.

A worker sends these through its pipe (`trainer.workers`), the job service stores them as
job events and the faces read them back. `event` names the kind; the rest is its data.
`TrainEvent` is the union; `FINAL_EVENTS` end a run.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, TypeGuard


class Started(TypedDict):
    """Training began (or resumed from `resumed_from_step`)."""

    event: Literal["started"]
    total_steps: int
    resumed_from_step: int
    total_tokens: int
    train_examples: int
    val_examples: int
    train_blocks: int
    block_size: int
    useful_token_fraction: float
    base: str


class Progress(TypedDict):
    """A logged training step."""

    event: Literal["progress"]
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    tokens_seen: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float


class Eval(TypedDict):
    """An evaluation on the held-out split (`initial` at step 0)."""

    event: Literal["eval"]
    step: int
    eval_loss: float
    perplexity: float
    initial: bool


class Checkpoint(TypedDict):
    """A checkpoint was written."""

    event: Literal["checkpoint"]
    step: int
    path: str


class Log(TypedDict):
    """A line for people: a warning about the data, a lowered block size, …"""

    event: Literal["log"]
    level: str
    message: str


class Completed(TypedDict):
    """The run finished and saved its model in `model_dir`."""

    event: Literal["completed"]
    model_dir: str
    metrics: dict[str, Any]
    base: str
    device: str


class Failed(TypedDict):
    """The run failed: `error` is one readable line, `detail` the traceback or cause."""

    event: Literal["failed"]
    error: str
    detail: NotRequired[str]
    code: NotRequired[str]
    exitcode: NotRequired[int | None]
    signal: NotRequired[str | None]


class Stopped(TypedDict):
    """The run stopped on request (`reason` is "pause" or "cancel")."""

    event: Literal["stopped"]
    reason: str | None
    step: int
    checkpoint: str | None
    killed: NotRequired[bool]


TrainEvent = Started | Progress | Eval | Checkpoint | Log | Completed | Failed | Stopped
FinalEvent = Completed | Failed | Stopped
FINAL_EVENTS = frozenset({"completed", "failed", "stopped"})


def is_final(event: TrainEvent) -> TypeGuard[FinalEvent]:
    """Whether `event` ends its run (completed, failed or stopped)."""
    return event["event"] in FINAL_EVENTS
