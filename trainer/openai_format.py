"""A dataset in OpenAI's chat fine-tuning format, checked against OpenAI's rules.

Nothing here talks to the API: the job service converts and checks a dataset *before*
uploading it, so a dataset OpenAI would refuse is refused here, with line numbers, and
costs nothing.

How each dataset format maps to OpenAI's `{"messages": [...]}` rows:

chat
    The messages as they are. `weight` is kept only where it means something to OpenAI:
    on an assistant message with weight 0 (1 is OpenAI's default, so it is left out).
completion (and CSV files with prompt/completion columns)
    `[{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]`.
    Trailing whitespace of the prompt is dropped: the turn boundary separates the two.
keywords
    The user message is the keyword line of the local template (`Keywords: boat, dog`),
    the assistant message is the text; generation builds the same user message.
text (and CSV files with a text column)
    Refused: plain text has no prompt/answer split, and a chat model learns only from
    assistant messages. Convert it to completion or chat rows first.

The rules (OpenAI's published format checks): at least `MIN_EXAMPLES` examples; each
row has a non-empty `messages` list of objects with known keys and roles, string
content, at least one assistant message, `weight` (0 or 1) on assistant messages only;
and each example fits the base model's context. Token counts are an *estimate*
(UTF-8 bytes / 4 per message plus a few tokens of message framing), not OpenAI's
tokenizer, so an example close to the limit may still be refused by the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainer.data.blocks import estimate_tokens
from trainer.data.formats import keyword_prefix
from trainer.data.report import FILE_LINE, DatasetReport, Example, RowError

MIN_EXAMPLES = 10
ROLES = ("system", "user", "assistant", "tool", "function")
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "function_call", "tool_calls"})
# Tokens OpenAI adds around each message and to prime the reply (their cookbook's count).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_EXAMPLE = 3
# Context of one training example, by base model prefix (longest prefix wins). An
# unknown model (a compatible server's, a new one) gets the most conservative limit.
TOKEN_LIMITS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4o": 65_536,
    "gpt-4o-mini": 65_536,
    "gpt-4.1": 65_536,
}
DEFAULT_TOKEN_LIMIT = 16_385
LINES_LISTED = 20


class UnsupportedExample(ValueError):
    """An example that has no OpenAI chat form (plain text)."""


@dataclass
class OpenAIDataset:
    """The converted rows (one per example, with its source line) and every rule broken."""

    model: str
    token_limit: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    estimated_tokens: int = 0

    @property
    def ok(self) -> bool:
        """True when OpenAI should accept the file."""
        return not self.errors

    def jsonl(self) -> bytes:
        """The training file to upload: one compact JSON object per line."""
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.rows).encode()

    def summary(self, label: str) -> str:
        """Why the dataset cannot be fine-tuned at OpenAI, line by line (like local errors)."""
        row_errors = [e for e in self.errors if e.line != FILE_LINE]
        counts = f"{len(self.rows)} examples" + (
            f", {len(row_errors)} breaking OpenAI's rules" if row_errors else ""
        )
        lines = [f"{label} cannot be fine-tuned at OpenAI ({self.model}): {counts}", "Errors:"]
        lines.extend(f"  {error}" for error in self.errors[:LINES_LISTED])
        if len(self.errors) > LINES_LISTED:
            lines.append(f"  … and {len(self.errors) - LINES_LISTED} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able report (for the `details` of a refusal)."""
        return {
            "model": self.model,
            "token_limit": self.token_limit,
            "examples": len(self.rows),
            "estimated_tokens": self.estimated_tokens,
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
        }


def token_limit(model: str) -> int:
    """The context of one training example for a base model (a fine-tuned one: its base)."""
    name = model.removeprefix("ft:")
    matches = [prefix for prefix in TOKEN_LIMITS if name.startswith(prefix)]
    return TOKEN_LIMITS[max(matches, key=len)] if matches else DEFAULT_TOKEN_LIMIT


def convert_report(report: DatasetReport, model: str) -> OpenAIDataset:
    """Convert every valid example of `report` and check the result against the rules."""
    result = OpenAIDataset(model=model, token_limit=token_limit(model))
    for example in report.examples:
        try:
            row = to_chat(example)
        except UnsupportedExample as exc:
            result.errors.insert(0, RowError(FILE_LINE, str(exc)))
            return result
        for problem in check_row(row, result.token_limit):
            result.errors.append(RowError(example.line, problem))
        result.rows.append(row)
        result.lines.append(example.line)
        result.estimated_tokens += count_tokens(row)
    if len(result.rows) < MIN_EXAMPLES:
        result.errors.insert(
            0,
            RowError(
                FILE_LINE,
                f"OpenAI needs at least {MIN_EXAMPLES} examples, "
                f"this dataset has {len(result.rows)}",
            ),
        )
    return result


def to_chat(example: Example) -> dict[str, Any]:
    """One example as an OpenAI chat row (see the module docstring for the mapping)."""
    if example.messages:
        return {"messages": [_chat_message(message) for message in example.messages]}
    if example.keywords:
        prompt = keyword_prefix(example.keywords).rstrip("\n")
        return _pair(prompt, example.trained_text)
    segments = example.segments
    if len(segments) == 2 and not segments[0][1] and segments[1][1]:
        return _pair(segments[0][0].rstrip(), segments[1][0])
    raise UnsupportedExample(
        "plain text examples cannot be fine-tuned at OpenAI (a chat model learns only "
        'from assistant answers): use completion rows {"prompt", "completion"} or chat rows'
    )


def check_row(row: Mapping[str, Any], limit: int) -> list[str]:
    """Every OpenAI rule one row breaks (empty when it is fine)."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["'messages' must be a non-empty list"]
    problems: list[str] = []
    for index, message in enumerate(messages, 1):
        problems.extend(f"message {index}: {p}" for p in _message_problems(message))
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("no assistant message (OpenAI learns only from assistant messages)")
    if not problems:
        tokens = count_tokens(row)
        if tokens > limit:
            problems.append(
                f"about {tokens} tokens (estimated), more than the {limit} one example may "
                "have for this model"
            )
    return problems


def count_tokens(row: Mapping[str, Any]) -> int:
    """An estimate of the tokens of one row (see the module docstring)."""
    total = TOKENS_PER_EXAMPLE
    for message in row.get("messages") or ():
        if isinstance(message, dict):
            total += TOKENS_PER_MESSAGE + estimate_tokens(str(message.get("content") or ""))
    return total


def _message_problems(message: object) -> list[str]:
    if not isinstance(message, dict):
        return ["must be an object"]
    problems = [f"unknown key '{key}'" for key in message if key not in MESSAGE_KEYS]
    role = message.get("role")
    if role not in ROLES:
        problems.append(f"unknown role {role!r} (allowed: {', '.join(ROLES)})")
    if not isinstance(message.get("content"), str):
        problems.append("'content' must be a string")
    if "weight" in message:
        if role != "assistant":
            problems.append("'weight' is allowed on assistant messages only")
        elif message["weight"] not in (0, 1):
            problems.append("'weight' must be 0 or 1")
    return problems


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    converted = {"role": message["role"], "content": message["content"]}
    if message["role"] == "assistant" and message.get("weight", 1) == 0:
        converted["weight"] = 0
    return converted


def _pair(prompt: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]
    }
