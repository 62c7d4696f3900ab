"""OpenAI's preference format, for DPO: a conversation and a preferred and a worse answer.

    {"input": {"messages": [{"role": "user", "content": "Hi"}]},
     "preferred_output": [{"role": "assistant", "content": "Hello!"}],
     "non_preferred_output": [{"role": "assistant", "content": "What."}]}

Each row is checked like the other formats (one readable reason per refused line). As an
`Example` a row is its conversation (not trained) followed by the preferred answer
(trained), so statistics, splits and eval loss treat it like a chat; `PreferencePair`
keeps both answers for the DPO trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainer.data import formats
from trainer.data.report import Example
from trainer.data.rows import FieldNames, InvalidRow, json_type, required_string

PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")


@dataclass(frozen=True)
class PreferencePair:
    """One checked row: the conversation so far and the two answers to it."""

    line: int
    messages: tuple[dict[str, str], ...]
    preferred: str
    rejected: str


def parse_preference(line: int, record: Mapping[str, Any]) -> PreferencePair:
    """Check one record of the preference format; raises `InvalidRow` with the reason."""
    for key in PREFERENCE_KEYS:
        if key not in record:
            raise InvalidRow(f"missing field '{key}'")
    given = record["input"]
    if not isinstance(given, dict):
        raise InvalidRow(f"field 'input' must be an object, got {json_type(given)}")
    raw = given.get("messages")
    if not isinstance(raw, list) or not raw:
        shown = "missing" if raw is None else json_type(raw)
        raise InvalidRow(f"field 'input.messages' must be a non-empty array, got {shown}")
    messages = tuple(_message(f"input.messages[{i}]", m) for i, m in enumerate(raw, 1))
    if messages[-1]["role"] == "assistant":
        raise InvalidRow("the last input message must not be the assistant's (it is answered)")
    preferred = _answer(record, "preferred_output")
    rejected = _answer(record, "non_preferred_output")
    if preferred == rejected:
        raise InvalidRow("the preferred and the non-preferred answer are the same")
    return PreferencePair(line, messages, preferred, rejected)


def build_preference(line: int, record: Mapping[str, Any], _names: FieldNames) -> Example:
    """A preference row as an Example: the conversation, then the preferred answer."""
    pair = parse_preference(line, record)
    messages = [*({**m, "weight": 0} for m in pair.messages)]
    messages.append({"role": "assistant", "content": pair.preferred, "weight": 1})
    return Example(line, formats.chat_segments(messages), messages=tuple(messages))


def _answer(record: Mapping[str, Any], key: str) -> str:
    value = record[key]
    if not isinstance(value, list) or len(value) != 1:
        shown = f"{len(value)} messages" if isinstance(value, list) else json_type(value)
        raise InvalidRow(f"field '{key}' must be an array of one assistant message, got {shown}")
    message = _message(key, value[0])
    if message["role"] != "assistant":
        raise InvalidRow(f"field '{key}' must hold an assistant message, got '{message['role']}'")
    return message["content"]


def _message(where: str, message: object) -> dict[str, str]:
    if not isinstance(message, dict):
        raise InvalidRow(f"{where} must be an object, got {json_type(message)}")
    role = message.get("role")
    if role not in formats.CHAT_ROLES:
        allowed = ", ".join(formats.CHAT_ROLES)
        raise InvalidRow(f"{where}: unknown role {role!r} (allowed: {allowed})")
    try:
        content = required_string(message, "content")
    except InvalidRow as exc:
        raise InvalidRow(f"{where}: {exc}") from None
    return {"role": str(role), "content": content}


def read_pairs(path: str) -> list[PreferencePair]:
    """The valid pairs of a preference file (it was checked row by row before training)."""
    from pathlib import Path

    from trainer.data.readers import decode_lines, is_json_array, json_array_rows, jsonl_rows

    decoded = decode_lines(Path(path).read_bytes())
    rows = json_array_rows(decoded) if is_json_array(decoded) else jsonl_rows(decoded)
    pairs = []
    for row in rows:
        if row.problem is None and isinstance(row.value, dict):
            try:
                pairs.append(parse_preference(row.line, row.value))
            except InvalidRow:
                continue  # refused in the dataset's report; skip_invalid let the job run
    return pairs
