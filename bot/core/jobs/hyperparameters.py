"""Hyperparameters from people (chat strings) and programs (JSON), checked once."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from bot.core.errors import Invalid
from trainer.adapters import MergeError, adapter_base, adapter_config
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
    config = adapter_config(Path(base))
    if config is not None:
        _check_adapter_start(raw or {}, method, Path(base), config)
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


def _check_adapter_start(
    raw: dict[str, Any], method: Method, folder: Path, config: dict[str, object]
) -> None:
    """A LoRA adapter as the base: `method=lora` (or DPO with LoRA) continues it with its
    own settings, `method=full` merges it into its base in memory first; refuse what
    cannot be honoured."""
    try:
        adapter_base(folder)
    except MergeError:
        raise Invalid(
            "the base model this LoRA adapter loads onto is gone, so it cannot be trained "
            "further; start from a full model instead"
        ) from None
    options = method.lora
    if options is None:
        return
    if options.quantize is not None:
        raise Invalid(
            f"QLoRA (quantize={options.quantize}) cannot continue a LoRA adapter; leave "
            "quantize out to continue it, or merge it into a full model first (!merge)"
        )
    lora = raw.get("lora")
    given: dict[str, object] = lora if isinstance(lora, dict) else {}
    targets = config.get("target_modules")
    own: dict[str, object] = {
        "r": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "dropout": config.get("lora_dropout"),
        "targets": sorted(targets) if isinstance(targets, list | tuple | set) else targets,
    }
    asked: dict[str, object] = {
        "r": options.r,
        "alpha": options.alpha,
        "dropout": options.dropout,
        "targets": sorted(options.targets),
    }
    clashes = [
        f"{key}={_shown(asked[key])} (the adapter has {_shown(own[key])})"
        for key in own
        if key in given and asked[key] != own[key]
    ]
    if clashes:
        raise Invalid(
            f"method={method.type} on a LoRA adapter continues that adapter with its own "
            f"settings; leave out {', '.join(clashes)}, or merge it first (!merge) to "
            "train a new adapter on the merged model"
        )


def _shown(value: object) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def refuse_method(raw: dict[str, Any] | None, backend: str) -> None:
    """A backend that trains every weight its own way refuses LoRA and DPO in words."""
    kind = str((raw or {}).get("type", "full")).lower()
    if kind != "full" or (raw or {}).get("lora") or (raw or {}).get("dpo"):
        raise Invalid(
            f"backend={backend} fine-tunes the whole model its own way; method={kind} "
            "(LoRA, DPO) is for local jobs (backend=local with a pretrained base=)"
        )
