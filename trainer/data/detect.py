"""Guess a dataset's format from its file name and its first records."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from trainer.data.readers import (
    DecodedText,
    decode_lines,
    is_json_array,
    json_array_rows,
    jsonl_rows,
)
from trainer.data.rows import DEFAULT_NAMES, FieldNames

HEAD_BYTES = 64 * 1024
# Enough records to get past a few broken lines at the top of a file.
RECORDS_LOOKED_AT = 50
CSV_SUFFIXES = (".csv", ".tsv")


def format_from_keys(keys: Iterable[str], names: FieldNames = DEFAULT_NAMES) -> str | None:
    """The format a record with these keys belongs to, or None when they do not say."""
    present = set(keys)
    if "preferred_output" in present:  # OpenAI's preference format (DPO)
        return "preference"
    if "messages" in present:
        return "chat"
    if "keywords" in present:
        return "keywords"
    if names.prompt in present and names.completion in present:
        return "completion"
    if names.text in present:
        return "text"
    return None


def format_from_values(values: Iterable[object], names: FieldNames = DEFAULT_NAMES) -> str | None:
    """The format of the first record (among the first few) whose keys decide it."""
    for index, value in enumerate(values):
        if index >= RECORDS_LOOKED_AT:
            break
        if isinstance(value, dict):
            found = format_from_keys(value, names)
            if found is not None:
                return found
    return None


def format_from_decoded(decoded: DecodedText, names: FieldNames = DEFAULT_NAMES) -> str | None:
    """The format of a JSONL or JSON-array file, judged by its first valid objects."""
    rows = json_array_rows(decoded) if is_json_array(decoded) else jsonl_rows(decoded)
    return format_from_values((row.value for row in rows if row.problem is None), names)


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The format of a dataset file: by extension, else by the keys of its first records.

    `.txt` is `text` and `.csv`/`.tsv` is `csv`; anything else is read as JSONL (or a JSON
    array) and judged by its first objects: `messages` means chat, `keywords` keywords,
    `prompt` + `completion` completion, `text` text. `head` is the start of the file if
    the caller already has it. Raises `ValueError` when no record decides.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return "text"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if head is None:
        with open(path, "rb") as file:
            head = file.read(HEAD_BYTES)
    found = format_from_decoded(decode_lines(head))
    if found is None:
        raise ValueError(undetected_message())
    return found


def undetected_message() -> str:
    """Why detection failed and what the user can do."""
    return (
        "cannot tell the format: no record among the first has a 'messages', 'keywords', "
        "'prompt' and 'completion', or 'text' field; name the format explicitly"
    )
