"""The train/validation split, shared by the token estimate and the training side.

Both must pick the same examples, or the estimate before a job would not match the job.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def validation_count(examples: int, val_fraction: float) -> int:
    """How many examples go to validation: `round(n * val_fraction)`, kept in 1..n-1.

    No validation set when `val_fraction <= 0` or there are fewer than two examples, so
    there is always at least one example to train on.
    """
    if val_fraction <= 0 or examples < 2:
        return 0
    return min(max(round(examples * val_fraction), 1), examples - 1)


def split_examples(
    examples: Sequence[T], val_fraction: float, seed: int = 42
) -> tuple[list[T], list[T]]:
    """(train, validation): a seeded random choice of validation examples.

    Both lists keep the file order, so the same file, fraction and seed always give the
    same split.
    """
    chosen = set(
        random.Random(seed).sample(
            range(len(examples)), validation_count(len(examples), val_fraction)
        )
    )
    train = [example for index, example in enumerate(examples) if index not in chosen]
    val = [example for index, example in enumerate(examples) if index in chosen]
    return train, val
