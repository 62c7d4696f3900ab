"""Hyperparameters from people (chat strings) and programs (JSON), checked once."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from bot.core.errors import Invalid
from trainer.methods import Method, MethodError, parse_method
from trainer.spec import BASE_PRESETS, Hyperparameters

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


def parse_job_method(
    raw: dict[str, Any] | None, base: str, device: str, dataset_format: str
) -> Method:
    """The checked method of a local job on `base` (a preset name or what the worker loads)."""
    try:
        method = parse_method(raw)
    except MethodError as exc:
        raise Invalid(str(exc), details=exc.problems) from None
    if method.type == "dpo" and dataset_format != "preference":
        raise Invalid(
            "method=dpo needs a preference dataset (input, preferred_output, "
            f"non_preferred_output); this one is {dataset_format}"
        )
    if method.type != "dpo" and dataset_format == "preference":
        raise Invalid(f"a preference dataset trains with method=dpo, not method={method.type}")
    if (Path(base) / "adapter_config.json").is_file():
        raise Invalid(
            "that base is a LoRA adapter; merge it into a full model first (!merge or "
            "POST /v1/models/{id}/merge) and train on the merged version"
        )
    if method.adapter and base in BASE_PRESETS:
        raise Invalid(
            f"method={method.type} with a LoRA adapter needs a pretrained base; the preset "
            f"{base!r} starts from random weights (name a base= folder or registered model)"
        )
    if method.type == "dpo" and base in BASE_PRESETS:
        raise Invalid(
            f"method=dpo tunes a model that already writes answers; the preset {base!r} starts "
            "from random weights (name a base= folder or registered model)"
        )
    if method.lora is not None and method.lora.quantize is not None:
        missing = [] if importlib.util.find_spec("bitsandbytes") else ["bitsandbytes"]
        if device == "cpu":
            missing.append("a CUDA GPU (trainer.device is cpu)")
        if missing:
            raise Invalid(
                f"QLoRA (quantize={method.lora.quantize}) needs {' and '.join(missing)} on "
                "this server; leave quantize out to train a plain LoRA adapter"
            )
    return method


def refuse_method(raw: dict[str, Any] | None, backend: str) -> None:
    """A backend that trains every weight its own way refuses LoRA and DPO in words."""
    kind = str((raw or {}).get("type", "full")).lower()
    if kind != "full" or (raw or {}).get("lora") or (raw or {}).get("dpo"):
        raise Invalid(
            f"backend={backend} fine-tunes the whole model its own way; method={kind} "
            "(LoRA, DPO) is for local jobs (backend=local with a pretrained base=)"
        )
