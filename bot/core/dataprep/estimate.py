"""What a data task will cost before it runs (shown by the room, returned by HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """What a task will cost before it runs: items, API calls, tokens and dollars."""

    kind: str  # "optimize" or "generate"
    target: str  # the version cleaned (`name@v1`) or the name generated into
    items: int  # records to clean or pairs to generate
    calls: int
    input_tokens: int
    output_tokens: int
    output_is_limit: bool  # True: output_tokens is the max_tokens bound, not a guess
    cost_usd: float
    model: str
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One paragraph: `ds@v1: 40 records → 40 calls to gpt-4o-mini, about …`."""
        noun = "records" if self.kind == "optimize" else "combinations"
        sent, received = f"{self.input_tokens:,}", f"{self.output_tokens:,}"
        if self.output_is_limit:
            each = self.output_tokens // max(self.items, 1)
            tokens = (
                f"about {sent} input tokens (estimated as UTF-8 bytes / 4) and at "
                f"most {received} output tokens (max_tokens={each} per call), at most"
            )
        else:
            tokens = (
                f"about {sent} input and {received} output tokens (estimated as UTF-8 "
                "bytes / 4), about"
            )
        text = (
            f"{self.target}: {self.items} {noun} → {self.calls} API calls to {self.model}, "
            f"{tokens} {dollars(self.cost_usd)}."
        )
        return " ".join([text, *self.notes])

    def to_dict(self) -> dict[str, Any]:
        """For the HTTP answer."""
        return {
            "kind": self.kind,
            "target": self.target,
            "items": self.items,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "output_is_limit": self.output_is_limit,
            "cost_usd": round(self.cost_usd, 6),
            "model": self.model,
            "notes": list(self.notes),
            "summary": self.describe(),
        }


def dollars(value: float) -> str:
    """`$0.0014`, `$3.20`."""
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"
