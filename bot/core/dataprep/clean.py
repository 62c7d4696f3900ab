"""Cleaning one record with the chat model: read the stored records, build the request,
check the answer.

One API call per record. Text and keywords records send their text and get the cleaned
text back; completion and chat records are sent as a JSON object and must come back as
the same JSON shape (`json_object=True`). An answer that fails validation keeps the
original record: the caller reports it, nothing is dropped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.data.blocks import estimate_tokens
from trainer.data.detect import CSV_SUFFIXES
from trainer.data.readers import (
    Row,
    csv_table,
    decode_lines,
    is_json_array,
    json_array_rows,
    jsonl_rows,
    paragraph_rows,
)
from trainer.data.rows import DEFAULT_NAMES, InvalidRow, build_example

DEFAULT_INSTRUCTIONS = (
    "You clean training data. Fix encoding debris and mojibake (for example â€™ becomes ’), "
    "remove HTML tags and other markup, and normalise whitespace. Keep the meaning, the "
    "wording and the language; do not add, translate, summarise or answer anything."
)
TEXT_RULE = "Answer with the cleaned text only: no preamble, no quotes, no explanation."
JSON_RULE = (
    "The user message is a JSON object. Clean every text value in it that way and answer "
    "with a JSON object of exactly the same shape{shape}. Answer with the JSON object only."
)
CHAT_SHAPE = ": the key 'messages' with as many messages, the same roles in the same order"
COMPLETION_SHAPE = ": the keys 'prompt' and 'completion'"


class BadAnswer(ValueError):
    """The model's answer cannot replace the record; the message says why, for people."""


@dataclass(frozen=True)
class SourceRecord:
    """A valid record of the stored version and the line it starts on."""

    line: int
    value: dict[str, Any]


@dataclass(frozen=True)
class Source:
    """The records to clean, their format, and how many invalid rows are left out."""

    format: str  # text, completion, chat or keywords: how each record is validated
    records: list[SourceRecord]
    left_out: int


def read_source(path: Path, stored_format: str) -> Source:
    """The valid records of a stored dataset file (CSV and TXT become JSON records)."""
    decoded = decode_lines(path.read_bytes())
    suffix = path.suffix.lower()
    rows: Iterable[Row]
    if suffix in CSV_SUFFIXES or stored_format == "csv":
        table = csv_table(decoded)
        fmt = stored_format if stored_format in ("text", "completion") else "text"
        if fmt == "text" and "text" not in table.header:
            fmt = "completion"
        fields = ("text",) if fmt == "text" else ("prompt", "completion")
        rows = (_project(row, fields) for row in table.rows)
    elif suffix == ".txt":
        fmt, rows = "text", paragraph_rows(decoded)
    else:
        fmt = stored_format
        rows = json_array_rows(decoded) if is_json_array(decoded) else jsonl_rows(decoded)
    records: list[SourceRecord] = []
    left_out = 0
    for row in rows:
        try:
            if row.problem is not None or not isinstance(row.value, dict):
                raise InvalidRow(row.problem or "not an object")
            build_example(fmt, row.line, row.value, DEFAULT_NAMES)
            records.append(SourceRecord(row.line, row.value))
        except InvalidRow:
            left_out += 1
    return Source(fmt, records, left_out)


def _project(row: Row, fields: tuple[str, ...]) -> Row:
    if not isinstance(row.value, dict):
        return row
    return Row(row.line, {name: row.value.get(name) for name in fields})


def is_json_format(fmt: str) -> bool:
    """Whether records of this format travel as JSON objects (several text fields)."""
    return fmt in ("completion", "chat")


def cleaning_messages(fmt: str, record: dict[str, Any], instructions: str) -> list[dict[str, str]]:
    """The chat request that cleans one record."""
    if fmt == "completion":
        payload = {"prompt": record["prompt"], "completion": record["completion"]}
        system = f"{instructions}\n\n{JSON_RULE.format(shape=COMPLETION_SHAPE)}"
        user = json.dumps(payload, ensure_ascii=False)
    elif fmt == "chat":
        messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
        system = f"{instructions}\n\n{JSON_RULE.format(shape=CHAT_SHAPE)}"
        user = json.dumps({"messages": messages}, ensure_ascii=False)
    else:
        system, user = f"{instructions}\n\n{TEXT_RULE}", str(record["text"])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def estimated_tokens(messages: list[dict[str, str]]) -> tuple[int, int]:
    """Approximate (input, output) tokens of one request: a cleaned record is about as long
    as the original, so the output is estimated as the length of the user message."""
    sent = sum(estimate_tokens(m["content"]) for m in messages)
    return sent, estimate_tokens(messages[-1]["content"])


def cleaned_record(
    fmt: str, line: int, original: dict[str, Any], answer: str, cut_off: bool
) -> dict[str, Any]:
    """The record with the model's cleaned text, validated like an upload; `BadAnswer`."""
    if cut_off:
        raise BadAnswer("the answer was cut off at the token limit")
    if fmt == "completion":
        record = {**original, **_completion_answer(answer)}
    elif fmt == "chat":
        record = _chat_answer(original, answer)
    else:
        record = {**original, "text": answer.strip()}
    try:
        build_example(fmt, line, record, DEFAULT_NAMES)
    except InvalidRow as exc:
        raise BadAnswer(f"the cleaned record is not valid: {exc}") from None
    return record


def _json_object(answer: str) -> dict[str, Any]:
    try:
        value = json.loads(answer)
    except json.JSONDecodeError as exc:
        raise BadAnswer(f"the answer is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise BadAnswer("the answer is not a JSON object")
    return value


def _completion_answer(answer: str) -> dict[str, Any]:
    value = _json_object(answer)
    if set(value) != {"prompt", "completion"}:
        keys = ", ".join(sorted(value)) or "none"
        raise BadAnswer(f"expected the keys completion and prompt, got {keys}")
    return value


def _chat_answer(original: dict[str, Any], answer: str) -> dict[str, Any]:
    returned = _json_object(answer).get("messages")
    wanted = original["messages"]
    if not isinstance(returned, list) or len(returned) != len(wanted):
        raise BadAnswer(f"expected 'messages' with {len(wanted)} messages")
    record = copy.deepcopy(original)
    for index, (new, old) in enumerate(zip(returned, record["messages"], strict=True), 1):
        if not isinstance(new, dict) or new.get("role") != old["role"]:
            raise BadAnswer(f"message {index} should keep the role {old['role']!r}")
        old["content"] = new.get("content")
    return record
