"""Hyperparameters from people (chat strings) and programs (JSON), checked once."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.core.errors import Invalid
from trainer.spec import Hyperparameters

# (lowest, highest) accepted for each knob; None leaves that side open.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "epochs": (0.01, 1000),
    "max_steps": (-1, 10_000_000),
    "learning_rate": (1e-8, 1.0),
    "batch_size": (1, 4096),
    "grad_accum": (1, 1024),
    "block_size": (8, 8192),
    "warmup_steps": (0, None),
    "warmup_ratio": (0.0, 0.5),
    "weight_decay": (0.0, 1.0),
    "seed": (0, 2**32 - 1),
    "val_fraction": (0.0, 0.5),
    "eval_every": (1, None),
    "save_every": (1, None),
    "save_total_limit": (1, 100),
    "early_stopping_patience": (0, 1000),
}
ALIASES = {"lr": "learning_rate", "steps": "max_steps", "batch": "batch_size"}


def parse_hyperparameters(
    raw: dict[str, Any], base: Hyperparameters | None = None
) -> Hyperparameters:
    """Check names, types and ranges; every problem is listed in one readable error."""
    fields = {f.name: f for f in dataclasses.fields(Hyperparameters)}
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if name not in fields:
            problems.append(f"unknown hyperparameter {key!r} (known: {', '.join(fields)})")
            continue
        kind = int if fields[name].type in ("int", int) else float
        try:
            number = _convert(value, kind)
        except ValueError:
            problems.append(
                f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            )
            continue
        low, high = LIMITS.get(name, (None, None))
        if (low is not None and number < low) or (high is not None and number > high):
            problems.append(f"{name} must be between {low} and {high}, got {number}")
            continue
        changes[name] = number
    if problems:
        raise Invalid("; ".join(problems), details=problems)
    return (base or Hyperparameters()).replace(**changes)


def _convert(value: object, kind: type) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    if not isinstance(value, str | int | float):
        raise TypeError(f"not a number: {value!r}")  # as int() and float() would
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    return float(value)
