"""The warning about examples longer than the block size.

Such an example is not an error: the training side packs examples into `block_size`
token sequences, so a long one is split across blocks (and its parts lose context).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from trainer.data.report import Example

CountTokens = Callable[[str], int]
LINES_LISTED = 10


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for GPT-2 style BPE: about four UTF-8 bytes per token."""
    return math.ceil(len(text.encode()) / 4)


def block_warnings(
    examples: list[Example], block_size: int | None, count_tokens: CountTokens | None
) -> list[str]:
    """The warning (or none) about examples whose tokens plus end-of-text exceed a block."""
    if block_size is None:
        return []
    count = count_tokens or estimate_tokens
    # +1 for the end-of-text token the training side puts after every example.
    long = [example.line for example in examples if count(example.text) + 1 > block_size]
    if not long:
        return []
    how = "" if count_tokens else ", estimated as UTF-8 bytes / 4"
    lines = ", ".join(str(line) for line in long[:LINES_LISTED])
    more = ", …" if len(long) > LINES_LISTED else ""
    noun, where = ("example is", "line") if len(long) == 1 else ("examples are", "lines")
    return [
        f"{len(long)} {noun} longer than the block size ({block_size} tokens{how}) "
        f"and will be split across blocks ({where} {lines}{more})"
    ]
