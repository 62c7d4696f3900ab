"""The four retraining policies: each looks at a `Situation` and returns a `Decision`.

A decision's `reason` is a sentence a person reads in the room, with the numbers it
was decided on; `details` holds the same numbers for programs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.dataprep.chat import ChatModel
    from bot.settings import ScheduleSettings
    from storage.datasets import DatasetRow
    from storage.registry import ModelRow
    from trainer.evaluate import EvalResult

LLM_SYSTEM = (
    "You decide whether a fine-tuned language model should be retrained now, from its "
    "training metrics and how its dataset changed since. Retraining costs compute, so "
    "say yes only when the new data is likely to make the model better. Answer with a "
    'JSON object only: {"retrain": true or false, "reason": "one sentence why"}.'
)
METRIC_KEYS = (
    "eval_loss",
    "perplexity",
    "initial_perplexity",
    "train_loss",
    "steps",
    "tokens_seen",
    "early_stopped",
)
SAMPLE_CHARS = 200


@dataclass(frozen=True)
class Decision:
    """Retrain or not, and why."""

    retrain: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Situation:
    """What a policy decides on: the newest data and the model it would replace."""

    schedule: ScheduleSettings
    dataset: DatasetRow | None  # the newest version of schedule.dataset
    model: ModelRow | None  # the newest version of schedule.model
    trained_on: DatasetRow | None  # the dataset version `model` was trained on

    @property
    def gained(self) -> int:
        """Examples the newest dataset version has beyond the one the model knows."""
        assert self.dataset is not None
        return self.dataset.examples - (self.trained_on.examples if self.trained_on else 0)

    def data_change(self) -> dict[str, Any]:
        """The numbers every policy reports."""
        return {
            "dataset": self.dataset.label if self.dataset else None,
            "examples_now": self.dataset.examples if self.dataset else None,
            "model": self.model.label if self.model else None,
            "trained_on": self.trained_on.label if self.trained_on else None,
            "examples_then": self.trained_on.examples if self.trained_on else None,
        }


def no_dataset(s: Situation) -> Decision:
    """Nothing to train on."""
    name = s.schedule.dataset
    return Decision(False, f"dataset {name} does not exist yet, so there is nothing to train on")


def decide_cron(s: Situation) -> Decision:
    """A cron schedule retrains whenever it fires."""
    if s.dataset is None:
        return no_dataset(s)
    reason = f"the cron schedule '{s.schedule.cron}' is due; retraining on {s.dataset.label}"
    return Decision(True, reason, s.data_change())


def decide_new_data(s: Situation) -> Decision:
    """Retrain once the dataset gained `min_new_records` examples since the model's training."""
    if s.dataset is None:
        return no_dataset(s)
    need = s.schedule.min_new_records
    details = {**s.data_change(), "new_records": None, "min_new_records": need}
    if s.model is None:
        reason = (
            f"there is no version of {s.schedule.model} yet; {s.dataset.label} has "
            f"{s.dataset.examples} examples"
        )
        return Decision(True, reason, details)
    gained = s.gained
    details["new_records"] = gained
    then = f"{s.trained_on.label} ({s.trained_on.examples})" if s.trained_on else "nothing known"
    numbers = (
        f"{s.dataset.label} has {s.dataset.examples} examples, {gained} more than "
        f"{then} that {s.model.label} was trained on"
    )
    if gained >= need:
        return Decision(True, f"{numbers}; {need} are enough to retrain", details)
    return Decision(False, f"{numbers}; {need} are needed to retrain", details)


Measure = Callable[["ModelRow", "DatasetRow", "DatasetRow | None"], Awaitable["EvalResult"]]


async def decide_metric(s: Situation, active: ModelRow | None, measure: Measure) -> Decision:
    """Retrain when the active model's eval loss on the newest data got worse enough."""
    if s.dataset is None:
        return no_dataset(s)
    name = s.schedule.model
    if active is None:
        return Decision(False, f"{name} has no active version whose eval loss could be measured")
    if active.backend != "local":
        return Decision(
            False,
            f"{active.label} was trained at OpenAI ({active.backend}); its "
            "eval loss cannot be measured here",
        )
    then = active.metrics.get("eval_loss")
    if not isinstance(then, int | float) or then <= 0:
        return Decision(False, f"{active.label} has no eval loss from its training to compare")
    try:
        result = await measure(active, s.dataset, s.trained_on)
    except Exception as exc:  # a broken folder or file must not stop the schedule
        return Decision(False, f"the eval loss of {active.label} could not be measured: {exc}")
    worse = (result.loss - then) / then * 100
    threshold = s.schedule.metric_threshold_pct
    on = "new examples" if result.new_only else "examples"
    details = {
        **s.data_change(),
        "eval_loss_then": then,
        "eval_loss_now": result.loss,
        "worse_pct": round(worse, 2),
        "threshold_pct": threshold,
        "measured_examples": result.examples,
        "new_only": result.new_only,
    }
    numbers = (
        f"eval loss of {active.label} on {result.examples} {on} of {s.dataset.label} "
        f"is {result.loss:.4f}, {_pct(worse)} than {then:.4f} at training"
    )
    if worse >= threshold:
        return Decision(True, f"{numbers}; {threshold:g}% worse is enough to retrain", details)
    return Decision(False, f"{numbers}; it takes {threshold:g}% worse to retrain", details)


def _pct(worse: float) -> str:
    return f"{worse:.1f}% worse" if worse >= 0 else f"{-worse:.1f}% better"


async def decide_llm(s: Situation, openai: ChatModel | None, samples: Sequence[str]) -> Decision:
    """The chat model decides from the metrics and the data change; new_data without a key."""
    if openai is None:
        fallback = decide_new_data(s)
        reason = f"llm policy without [openai] api_key: decided by new_data: {fallback.reason}"
        return Decision(fallback.retrain, reason, {**fallback.details, "fallback": "new_data"})
    if s.dataset is None:
        return no_dataset(s)
    from bot.core.openai.remote import ChatFailed

    facts = llm_facts(s, samples)
    messages = [
        {"role": "system", "content": LLM_SYSTEM},
        {"role": "user", "content": json.dumps(facts, indent=1)},
    ]
    details: dict[str, Any] = {**s.data_change(), "new_records": facts["new_records"]}
    try:
        answer = await openai.chat(messages, json_object=True, temperature=0)
    except ChatFailed as exc:
        return Decision(False, f"the chat model could not be asked: {exc}", details)
    details["answer"] = answer.text[:1000]
    verdict = read_verdict(answer.text)
    if verdict is None:
        shown = answer.text.strip()[:200] or "(empty)"
        return Decision(
            False,
            'the chat model\'s answer is not JSON {"retrain": true|false, '
            f'"reason": "..."}}, so no retrain: {shown}',
            details,
        )
    return Decision(verdict[0], verdict[1], details)


def llm_facts(s: Situation, samples: Sequence[str]) -> dict[str, Any]:
    """What the chat model is shown."""
    assert s.dataset is not None
    model = s.model
    return {
        "model": model.label if model else f"{s.schedule.model} (never trained)",
        "metrics": {k: model.metrics[k] for k in METRIC_KEYS if k in model.metrics}
        if model
        else {},
        "model_age_days": round((time.time() - model.created_at) / 86400, 2) if model else None,
        "dataset_then": s.trained_on.label if s.trained_on else None,
        "examples_then": s.trained_on.examples if s.trained_on else 0,
        "dataset_now": s.dataset.label,
        "examples_now": s.dataset.examples,
        "new_records": s.gained if model else s.dataset.examples,
        "sample_new_records": [text[:SAMPLE_CHARS] for text in samples],
    }


def read_verdict(text: str) -> tuple[bool, str] | None:
    """(retrain, reason) from the chat model's JSON answer, or None when unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    retrain, reason = data.get("retrain"), data.get("reason")
    if not isinstance(retrain, bool) or not isinstance(reason, str) or not reason.strip():
        return None
    return retrain, reason.strip()
