"""Measured training speed per (base, device), used to estimate how long a job takes.

Pure standard library: the main process calls `estimate_seconds` when a job is queued.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

# Conservative tokens/s on the 2-core x86 CPU this was written on (no GPU), used until a
# run on this machine records its own figure. micro and tiny were measured with
# bench/train_throughput.py (tiny: 3,329 tok/s at a load average of ~2; the machine was
# shared, and under heavier load it fell to ~300). small was not measured: it is the
# tiny figure scaled by the ratio of training FLOPs per token (~20x). Unknown bases
# (local folders, hub ids) are assumed to be as slow as the GPT-2 124M architecture.
BUILTIN_TOKENS_PER_S: dict[str, float] = {"micro": 15000.0, "tiny": 3000.0, "small": 150.0}
_FALLBACK_BASE = "small"
# Evaluation, checkpoints and start-up cost time on top of the optimizer steps.
_OVERHEAD = 1.2


def _key(base: str, device: str) -> str:
    return f"{base}|{device}"


def read_measurements(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The measurements file as a dict; empty when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_throughput(
    path: str | os.PathLike[str], base: str, device: str, tokens_per_s: float
) -> None:
    """Fold one run's measured tokens/s into the file (a running average, atomic write)."""
    if tokens_per_s <= 0:
        return
    data = read_measurements(path)
    entry = data.get(_key(base, device)) or {}
    old = float(entry.get("tokens_per_s", 0.0))
    runs = int(entry.get("runs", 0))
    # Weight recent runs more: hardware and library versions change over time.
    value = tokens_per_s if runs == 0 else 0.5 * old + 0.5 * tokens_per_s
    data[_key(base, device)] = {"tokens_per_s": value, "runs": runs + 1, "updated_at": time.time()}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def tokens_per_second(
    base: str, path: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> float:
    """The measured figure for (base, device) if any, else the built-in one."""
    if path is not None:
        entry = read_measurements(path).get(_key(base, device))
        if isinstance(entry, dict) and float(entry.get("tokens_per_s", 0)) > 0:
            return float(entry["tokens_per_s"])
    return BUILTIN_TOKENS_PER_S.get(base, BUILTIN_TOKENS_PER_S[_FALLBACK_BASE])


def estimate_seconds(
    total_tokens: int,
    base: str,
    path: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> float:
    """Expected wall time of a run that feeds `total_tokens` tokens to the model."""
    return _OVERHEAD * total_tokens / tokens_per_second(base, path, device)
