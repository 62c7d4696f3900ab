"""Measured training speed per (base, device), used to estimate how long a job takes.

Pure standard library: the main process calls `estimate_seconds` when a job is queued.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Conservative tokens/s on the 2-core x86 CPU this was written on (no GPU), used until a
# run on this machine records its own figure. micro and tiny were measured with
# bench/train_throughput.py (tiny: 3,329 tok/s at a load average of ~2; the machine was
# shared, and under heavier load it fell to ~300). small was not measured: it is the
# tiny figure scaled by the ratio of training FLOPs per token (~20x). Unknown bases
# (local folders, hub ids) are assumed to be as slow as the GPT-2 124M architecture.
BUILTIN_TOKENS_PER_S: dict[str, float] = {"micro": 15000.0, "tiny": 3000.0, "small": 150.0}
# Seconds a run spends outside optimizer steps (loading the base, tokenizing, evaluating,
# saving), until a run on this machine records its own figure. A multiplier on the step
# time cannot stand for them: a short run is mostly this fixed cost (the demo's 30 micro
# steps were estimated at 3 s and took 25 s).
BUILTIN_OVERHEAD_S: dict[str, float] = {"micro": 5.0, "tiny": 10.0, "small": 30.0}
_FALLBACK_BASE = "small"


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
    path: str | os.PathLike[str],
    base: str,
    device: str,
    tokens_per_s: float,
    run_metrics: Mapping[str, Any] | None = None,
) -> None:
    """Fold one run's measured tokens/s (and, from `run_metrics`' `duration_s` and
    `tokens_seen`, its seconds outside optimizer steps) into the file: a running average,
    written atomically."""
    if tokens_per_s <= 0:
        return
    data = read_measurements(path)
    entry = data.get(_key(base, device)) or {}
    runs = int(entry.get("runs", 0))
    updated = {"runs": runs + 1, "updated_at": time.time()}
    updated["tokens_per_s"] = _average(entry.get("tokens_per_s"), tokens_per_s, runs)
    overhead = _overhead(run_metrics or {}, tokens_per_s)
    if overhead is not None:
        updated["overhead_s"] = _average(entry.get("overhead_s"), overhead, runs)
    data[_key(base, device)] = updated
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def _average(old: object, new: float, runs: int) -> float:
    # Weight recent runs more: hardware and library versions change over time.
    if runs == 0 or not isinstance(old, int | float) or old <= 0:
        return new
    return 0.5 * float(old) + 0.5 * new


def _overhead(metrics: Mapping[str, Any], tokens_per_s: float) -> float | None:
    """A run's wall time minus its time in optimizer steps."""
    duration, tokens = metrics.get("duration_s"), metrics.get("tokens_seen")
    if not isinstance(duration, int | float) or not isinstance(tokens, int | float):
        return None
    return max(0.0, float(duration) - float(tokens) / tokens_per_s)


def _measured(base: str, path: str | os.PathLike[str] | None, device: str, key: str) -> float:
    if path is None:
        return 0.0
    entry = read_measurements(path).get(_key(base, device))
    value = entry.get(key) if isinstance(entry, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def tokens_per_second(
    base: str, path: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> float:
    """The measured figure for (base, device) if any, else the built-in one."""
    measured = _measured(base, path, device, "tokens_per_s")
    return measured or BUILTIN_TOKENS_PER_S.get(base, BUILTIN_TOKENS_PER_S[_FALLBACK_BASE])


def measured_here(
    base: str, path: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> bool:
    """Whether a run of (base, device) was measured on this machine (else: built-in guesses)."""
    return _measured(base, path, device, "tokens_per_s") > 0


def overhead_seconds(
    base: str, path: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> float:
    """Seconds a run of (base, device) spends outside optimizer steps: measured, or built in."""
    measured = _measured(base, path, device, "overhead_s")
    return measured or BUILTIN_OVERHEAD_S.get(base, BUILTIN_OVERHEAD_S[_FALLBACK_BASE])


def estimate_seconds(
    total_tokens: int,
    base: str,
    path: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> float:
    """Expected wall time of a run that feeds `total_tokens` tokens to the model: its
    fixed cost plus its optimizer steps, both as measured on this machine."""
    steps_s = total_tokens / tokens_per_second(base, path, device)
    return overhead_seconds(base, path, device) + steps_s


def remaining_seconds(
    steps_left: int, seconds_per_step: float, evals_left: int, seconds_per_eval: float
) -> float:
    """What a running job still needs: its steps at the pace of its own optimizer steps
    (evaluations excluded: counted in, they made the first ETA of a run many times too
    long) plus the evaluations still due."""
    return max(0, steps_left) * seconds_per_step + max(0, evals_left) * seconds_per_eval


def refined_eta(
    estimate_s: float | None,
    running_s: float,
    step: int,
    total_steps: int,
    measured_eta_s: float | None,
) -> float | None:
    """The one estimate made at queueing (`estimate_s`, from the speed measured on earlier
    runs), refined as steps run: what it leaves after `running_s` seconds, weighed against
    this run's own measurement (`measured_eta_s`) more with every step, alone from half-way.
    A run's first steps are the slowest and the noisiest, so the measurement alone made
    the first ETA several times the estimate; an estimate already overrun says nothing."""
    if estimate_s is None or total_steps <= 0:
        return measured_eta_s
    left = estimate_s - running_s
    if measured_eta_s is None:
        return max(0.0, left)
    if left <= 0:
        return measured_eta_s
    weight = min(1.0, 2.0 * step / total_steps)
    return (1.0 - weight) * left + weight * measured_eta_s
