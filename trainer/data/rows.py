"""Validate one record (a JSON object or a CSV row) and turn it into an `Example`.

Messages name the field and say what was expected, because they are shown to the person
who wrote the file: `missing field 'text'`, `field 'text' must be a string, got number`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trainer.data import formats
from trainer.data.report import Example
from trainer.spec import DataOptions


class InvalidRow(ValueError):
    """One record cannot be used; the message says why, for people."""


@dataclass(frozen=True)
class FieldNames:
    """Which fields hold the text, prompt and completion (mappable for CSV and JSONL)."""

    text: str = "text"
    prompt: str = "prompt"
    completion: str = "completion"

    @classmethod
    def from_options(cls, options: DataOptions) -> FieldNames:
        """The names configured in `DataOptions`."""
        return cls(options.text_column, options.prompt_column, options.completion_column)


DEFAULT_NAMES = FieldNames()
RowBuilder = Callable[[int, Mapping[str, Any], FieldNames], Example]


def json_type(value: object) -> str:
    """The JSON name of a value's type, as people who write JSON know it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def required_string(record: Mapping[str, Any], name: str) -> str:
    """A field that must hold a non-blank string."""
    if name not in record:
        raise InvalidRow(f"missing field '{name}'")
    value = record[name]
    if not isinstance(value, str):
        raise InvalidRow(f"field '{name}' must be a string, got {json_type(value)}")
    if not value.strip():
        raise InvalidRow(f"empty field '{name}'")
    return value


def build_text(line: int, record: Mapping[str, Any], names: FieldNames) -> Example:
    """A `text` record."""
    return Example(line, formats.text_segments(required_string(record, names.text)))


def build_completion(line: int, record: Mapping[str, Any], names: FieldNames) -> Example:
    """A `completion` record: both fields are checked so one message names all problems."""
    reasons: list[str] = []
    values: list[str] = []
    for name in (names.prompt, names.completion):
        try:
            values.append(required_string(record, name))
        except InvalidRow as exc:
            reasons.append(str(exc))
    if reasons:
        raise InvalidRow("; ".join(reasons))
    return Example(line, formats.completion_segments(values[0], values[1]))


def build_keywords(line: int, record: Mapping[str, Any], names: FieldNames) -> Example:
    """A `keywords` record: a non-empty list of non-blank strings, and the text."""
    if "keywords" not in record:
        raise InvalidRow("missing field 'keywords'")
    keywords = record["keywords"]
    if not isinstance(keywords, list):
        raise InvalidRow(f"field 'keywords' must be an array of strings, got {json_type(keywords)}")
    if not keywords:
        raise InvalidRow("empty field 'keywords'")
    for index, keyword in enumerate(keywords, 1):
        if not isinstance(keyword, str):
            raise InvalidRow(f"keyword {index} must be a string, got {json_type(keyword)}")
        if not keyword.strip():
            raise InvalidRow(f"keyword {index} is empty")
    text = required_string(record, names.text)
    segments = formats.keywords_segments(keywords, text)
    return Example(line, segments, keywords=tuple(keywords))


def build_chat(line: int, record: Mapping[str, Any], names: FieldNames) -> Example:
    """A `chat` record in the OpenAI fine-tuning shape."""
    if "messages" not in record:
        raise InvalidRow("missing field 'messages'")
    raw = record["messages"]
    if not isinstance(raw, list):
        raise InvalidRow(f"field 'messages' must be an array, got {json_type(raw)}")
    if not raw:
        raise InvalidRow("empty field 'messages'")
    reasons: list[str] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(raw, 1):
        try:
            messages.append(_chat_message(message))
        except InvalidRow as exc:
            reasons.append(f"message {index}: {exc}")
    if reasons:
        raise InvalidRow("; ".join(reasons))
    assistant = [message for message in messages if message["role"] == "assistant"]
    if not assistant:
        raise InvalidRow("no assistant message (a chat needs at least one 'assistant' message)")
    if not any(message["weight"] == 1 for message in assistant):
        raise InvalidRow("no trained assistant message (every assistant message has weight 0)")
    return Example(line, formats.chat_segments(messages), messages=tuple(messages))


def _chat_message(message: object) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise InvalidRow(f"must be an object, got {json_type(message)}")
    if "role" not in message:
        raise InvalidRow("missing field 'role'")
    role = message["role"]
    if not isinstance(role, str):
        raise InvalidRow(f"field 'role' must be a string, got {json_type(role)}")
    if role not in formats.CHAT_ROLES:
        allowed = ", ".join(formats.CHAT_ROLES)
        raise InvalidRow(f"unknown role '{role}' (allowed: {allowed})")
    content = required_string(message, "content")
    weight = message.get("weight", 1)
    # 1.0 is accepted as 1 because some JSON writers emit every number as a float.
    if isinstance(weight, bool) or weight not in (0, 1):
        raise InvalidRow(f"field 'weight' must be 0 or 1, got {json.dumps(weight)}")
    return {"role": role, "content": content, "weight": int(weight)}


BUILDERS: dict[str, RowBuilder] = {
    "text": build_text,
    "completion": build_completion,
    "keywords": build_keywords,
    "chat": build_chat,
}


def build_example(fmt: str, line: int, value: object, names: FieldNames) -> Example:
    """Validate one parsed record of format `fmt`; raises `InvalidRow`."""
    if not isinstance(value, dict):
        raise InvalidRow(f"expected a JSON object, got {json_type(value)}")
    return BUILDERS[fmt](line, value, names)
