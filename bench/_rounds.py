"""Interleaved rounds and their honest summary, shared by the benches.

A bench on a shared machine compares paths measured close together: every round runs each
path once (the order rotating, so no path always pays for a cold start or profits from a
warm cache), prints the round, and the headline is the true median of the per-round
ratios with their min–max spread (an even count averages the middle two: never "the upper
of two").
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence

Measure = Callable[[int], float]  # the round's index -> a figure (tokens/s, requests/s, ms)
AsyncMeasure = Callable[[int], Awaitable[float]]


def interleaved(
    rounds: int,
    measures: Mapping[str, Measure],
    unit: str = "",
    note: Callable[[int], str] | None = None,
) -> dict[str, list[float]]:
    """Run every measure once per round, the order rotating; print each round as it ends.

    Round 0 runs them in the order given (a path that needs another's output goes after
    it). `note(round)` adds words to the round's line (a loss, a precision).
    """
    results: dict[str, list[float]] = {name: [] for name in measures}
    for round_ in range(rounds):
        for name in _order(round_, list(measures)):
            results[name].append(measures[name](round_))
        _show(round_, results, unit, note)
    return results


async def interleaved_async(
    rounds: int,
    measures: Mapping[str, AsyncMeasure],
    unit: str = "",
    note: Callable[[int], str] | None = None,
) -> dict[str, list[float]]:
    """`interleaved` for measures that are coroutines (HTTP clients, services)."""
    results: dict[str, list[float]] = {name: [] for name in measures}
    for round_ in range(rounds):
        for name in _order(round_, list(measures)):
            results[name].append(await measures[name](round_))
        _show(round_, results, unit, note)
    return results


def _order(round_: int, names: list[str]) -> list[str]:
    turn = round_ % len(names)
    return names[turn:] + names[:turn]


def _show(
    round_: int, results: dict[str, list[float]], unit: str, note: Callable[[int], str] | None
) -> None:
    figures = ", ".join(f"{name} {values[-1]:.0f}{unit}" for name, values in results.items())
    extra = f"; {note(round_)}" if note else ""
    print(f"round {round_ + 1}: {figures}{extra}", flush=True)


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Per-round ratios of two paths measured in the same rounds."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def spread(values: Sequence[float], digits: int = 3) -> str:
    """The true median of `values` with their range and how many rounds they are."""
    shown = f".{digits}f"
    return (
        f"{statistics.median(values):{shown}} (min {min(values):{shown}},"
        f" max {max(values):{shown}}, {len(values)} rounds)"
    )


def by_name(rounds: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """Rounds that each measure several named figures, as one list per name."""
    return {name: [r[name] for r in rounds] for name in rounds[0]} if rounds else {}
