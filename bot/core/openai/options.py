"""The knobs of an OpenAI fine-tuning job, from chat strings or JSON, checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.core.errors import Invalid

# Our name -> (the API's hyperparameter name, type, lowest, highest).
HYPERPARAMETERS: dict[str, tuple[str, type, float, float]] = {
    "epochs": ("n_epochs", int, 1, 50),
    "batch_size": ("batch_size", int, 1, 256),
    "learning_rate_multiplier": ("learning_rate_multiplier", float, 1e-6, 100.0),
}
ALIASES = {"n_epochs": "epochs", "lr_multiplier": "learning_rate_multiplier"}
SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KNOWN = (*HYPERPARAMETERS, "seed", "suffix")
# Keys only remote jobs take (the chat face passes them through with the hyperparameters).
REMOTE_ONLY = ("suffix", "learning_rate_multiplier", *ALIASES)


@dataclass(frozen=True)
class RemoteOptions:
    """What the API's `fine_tuning.jobs.create` gets besides the model and the file."""

    hyperparameters: dict[str, Any]
    suffix: str | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the job's stored spec."""
        return {"hyperparameters": self.hyperparameters, "suffix": self.suffix, "seed": self.seed}


def parse_remote_options(raw: dict[str, Any], default_suffix: str) -> RemoteOptions:
    """Check names, types and ranges; every problem is listed in one readable error.

    Unset hyperparameters are left to the API (it picks them from the dataset size).
    The suffix defaults to the model name, cut to what the API accepts.
    """
    hyperparameters: dict[str, Any] = {}
    seed: int | None = None
    suffix = _default_suffix(default_suffix)
    problems: list[str] = []
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        try:
            if name == "suffix":
                suffix = _suffix(value)
            elif name == "seed":
                seed = int(_number(name, value, int, 0, 2**31 - 1))
            elif name in HYPERPARAMETERS:
                api_name, kind, low, high = HYPERPARAMETERS[name]
                hyperparameters[api_name] = _number(name, value, kind, low, high)
            else:
                problems.append(
                    f"{key!r} is not an option of OpenAI fine-tuning (known: {', '.join(KNOWN)})"
                )
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise Invalid("; ".join(problems), details=problems)
    return RemoteOptions(hyperparameters, suffix, seed)


def _number(name: str, value: object, kind: type, low: float, high: float) -> float:
    what = "an integer" if kind is int else "a number"
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError
        number = float(value)
        if kind is int and not number.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {number:g}")
    return int(number) if kind is int else number


def _suffix(value: object) -> str:
    if not isinstance(value, str) or not SUFFIX.match(value):
        raise ValueError(f"suffix must be 1 to 64 letters, digits, '-' or '_', got {value!r}")
    return value


def _default_suffix(name: str) -> str | None:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64]
    return cleaned or None
