"""OpenAI's hyperparameters and method, turned into what a Trainbot `JobRequest` carries."""

from __future__ import annotations

from typing import Any

from bot.http.openai.schemas import OpenAIDpoHyperparameters, OpenAIHyperparameters, OpenAIMethod
from trainer.spec import Hyperparameters as TrainbotHyperparameters

DEFAULT_LR = TrainbotHyperparameters().learning_rate


def to_hyperparameters(
    asked: OpenAIHyperparameters | None, seed: int | None
) -> dict[str, Any] | None:
    """Trainbot hyperparameters; "auto" (or absent) leaves Trainbot's default."""
    raw: dict[str, Any] = {}
    if asked is not None:
        if isinstance(asked.n_epochs, int):
            raw["epochs"] = asked.n_epochs
        if isinstance(asked.batch_size, int):
            raw["batch_size"] = asked.batch_size
        if isinstance(asked.learning_rate_multiplier, float | int):
            raw["learning_rate"] = DEFAULT_LR * asked.learning_rate_multiplier
    if seed is not None:
        raw["seed"] = seed
    return raw or None


def to_method(method: OpenAIMethod | None) -> dict[str, Any] | None:
    """The raw method the backend checks: None for plain supervised training."""
    if method is None:
        return None
    raw: dict[str, Any] = {}
    if method.type == "dpo":
        raw["type"] = "dpo"
        hyper = method.dpo.hyperparameters if method.dpo else None
        if isinstance(hyper, OpenAIDpoHyperparameters) and isinstance(hyper.beta, float | int):
            raw["dpo"] = {"beta": hyper.beta}
    elif method.lora is not None:
        raw["type"] = "lora"
    if method.lora is not None:
        raw["lora"] = dict(method.lora)
    return raw or None
