"""Trainer callbacks that turn the Hugging Face training loop into trainbot events.

`ProgressCallback` reports (progress, eval, checkpoint); `ControlCallback` stops the
loop cooperatively at the next optimizer step when the parent asks to cancel or pause.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainer.events import Started, TrainEvent
from trainer.throughput import remaining_seconds

EventSink = Callable[[TrainEvent], None]


class Flag(Protocol):
    """Anything with `is_set()`: a threading.Event or a multiprocessing Event."""

    def is_set(self) -> bool: ...


class Control:
    """Stop requests from the parent process, read at every optimizer step."""

    def __init__(self, cancel: Flag, pause: Flag) -> None:
        self._cancel = cancel
        self._pause = pause

    def requested(self) -> str | None:
        """ "cancel", "pause" or None; cancel wins when both are set."""
        if self._cancel.is_set():
            return "cancel"
        if self._pause.is_set():
            return "pause"
        return None


def perplexity(loss: float) -> float:
    """exp(loss), capped so a diverged run reports a big number instead of inf."""
    return math.exp(min(loss, 50.0))


class ProgressCallback(TrainerCallback):
    """Sends started/progress/eval/checkpoint events; measures tokens per second."""

    def __init__(self, sink: EventSink, tokens_per_step: int, started: Started) -> None:
        self._sink = sink
        self._tokens_per_step = tokens_per_step
        self._started = started
        self._first_step = 0
        self._last_step = 0
        self._began = 0.0
        self._mark = 0.0
        self._train_seconds = 0.0  # time inside optimizer steps, evals and saves excluded
        self._eval_seconds = 0.0  # how long the latest evaluation took
        self.initial_eval_loss: float | None = None
        self.last_eval_loss: float | None = None

    @property
    def tokens_per_s(self) -> float:
        """Training throughput of this session (evaluation and saving excluded)."""
        if self._train_seconds <= 0:
            return 0.0
        return self._tokens_per_step * self._steps_done / self._train_seconds

    @property
    def _steps_done(self) -> int:
        return max(0, self._last_step - self._first_step)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._first_step = self._last_step = state.global_step
        self._began = self._mark = time.perf_counter()
        started = self._started.copy()  # the run's numbers, known before the Trainer ran
        started["total_steps"] = state.max_steps
        started["resumed_from_step"] = state.global_step
        self._sink(started)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        now = time.perf_counter()
        self._train_seconds += now - self._mark
        self._mark = now
        self._last_step = state.global_step

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return  # eval metrics and the end-of-training summary arrive here too
        elapsed = time.perf_counter() - self._began
        per_step = self._train_seconds / self._steps_done if self._steps_done else 0.0
        every = int(args.eval_steps or 0)  # evaluations still due are part of what is left
        evals_left = state.max_steps // every - state.global_step // every if every else 0
        eta = remaining_seconds(
            state.max_steps - state.global_step, per_step, evals_left, self._eval_seconds
        )
        self._sink(
            {
                "event": "progress",
                "step": state.global_step,
                "total_steps": state.max_steps,
                "epoch": float(state.epoch or 0.0),
                "loss": float(logs["loss"]),
                "learning_rate": float(logs.get("learning_rate", 0.0)),
                "tokens_seen": state.global_step * self._tokens_per_step,
                "tokens_per_s": self.tokens_per_s,
                "elapsed_s": elapsed,
                "eta_s": eta,
            }
        )
        self._mark = time.perf_counter()

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        self._eval_seconds = time.perf_counter() - self._mark
        self._mark = time.perf_counter()
        if not metrics or "eval_loss" not in metrics:
            return
        loss = float(metrics["eval_loss"])
        initial = state.global_step == 0
        if initial:
            self.initial_eval_loss = loss
        self.last_eval_loss = loss
        self._sink(
            {
                "event": "eval",
                "step": state.global_step,
                "eval_loss": loss,
                "perplexity": perplexity(loss),
                "initial": initial,
            }
        )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._mark = time.perf_counter()
        path = os.path.join(args.output_dir or "", f"checkpoint-{state.global_step}")
        self._sink({"event": "checkpoint", "step": state.global_step, "path": path})


class ControlCallback(TrainerCallback):
    """Ends the loop after the current optimizer step on cancel or pause.

    Pause asks the Trainer for a checkpoint first so `resume` can continue from exactly
    this step; cancel skips evaluation and saving to stop as fast as possible. Runs after
    the default flow callback, so it can override that step's eval/save decisions.
    """

    def __init__(self, control: Control) -> None:
        self._control = control
        self.reason: str | None = None

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        reason = self._control.requested()
        if reason is None:
            return
        self.reason = reason
        control.should_training_stop = True
        control.should_evaluate = False
        control.should_save = reason == "pause"
