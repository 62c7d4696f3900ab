"""Cut file bytes into rows: JSONL lines, a JSON array, `.txt` paragraphs, CSV rows.

Every row carries the 1-based line where it starts. Bytes that are not UTF-8 never stop
the read: the line is decoded with replacement characters and any row touching it is
marked with a problem that gives the byte offset, so the rest of the file is still
checked and every bad row is reported at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    """One record before validation: a parsed value, or the reason it has none."""

    line: int
    value: object = None
    problem: str | None = None


@dataclass(frozen=True)
class DecodedText:
    """The lines of a file (without line endings) and the lines with undecodable bytes."""

    lines: list[str]
    bad_lines: dict[int, str]

    def problem_between(self, first: int, last: int) -> str | None:
        """The decoding problem of the first bad line in `first..last`, if any."""
        for number in range(first, last + 1):
            if number in self.bad_lines:
                return self.bad_lines[number]
        return None


def decode_lines(data: bytes) -> DecodedText:
    """Split bytes into lines, decoding each as UTF-8 (a leading BOM is dropped)."""
    offset = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    lines: list[str] = []
    bad: dict[int, str] = {}
    for number, raw in enumerate(data[offset:].split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = (
                f"undecodable bytes: byte 0x{raw[exc.start]:02x} at byte offset "
                f"{offset + exc.start} of the file is not UTF-8 (save the file as UTF-8)"
            )
            text = raw.decode("utf-8", errors="replace")
        lines.append(text.removesuffix("\r"))
        offset += len(raw) + 1
    return DecodedText(lines, bad)


def jsonl_rows(decoded: DecodedText) -> Iterator[Row]:
    """One row per non-blank line."""
    for number, text in enumerate(decoded.lines, 1):
        if number in decoded.bad_lines:
            yield Row(number, problem=decoded.bad_lines[number])
        elif text.strip():
            try:
                yield Row(number, json.loads(text))
            except json.JSONDecodeError as exc:
                yield Row(number, problem=json_problem(exc))


def json_problem(exc: json.JSONDecodeError) -> str:
    """The parser's reason, short: `not valid JSON: Expecting value at column 1`."""
    return f"not valid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def is_json_array(decoded: DecodedText) -> bool:
    """Whether the file holds one JSON array (a `.json` export) instead of JSONL."""
    for text in decoded.lines:
        if text.strip():
            return text.lstrip().startswith("[")
    return False


def json_array_rows(decoded: DecodedText) -> Iterator[Row]:
    """One row per element of a top-level JSON array, at the line where it starts."""
    text = "\n".join(decoded.lines)
    decoder = json.JSONDecoder()
    pos = _skip_space(text, text.index("[") + 1)
    if text.startswith("]", pos):
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield Row(exc.lineno, problem=json_problem(exc))
            return
        problem = decoded.problem_between(line, line + text.count("\n", pos, end))
        yield Row(line, problem=problem) if problem else Row(line, value)
        pos = _skip_space(text, end)
        if not text.startswith(",", pos):
            if not text.startswith("]", pos):
                where = text.count("\n", 0, pos) + 1
                yield Row(where, problem="not valid JSON: expecting ',' or ']' after an element")
            return
        pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def paragraph_rows(decoded: DecodedText, field: str = "text") -> Iterator[Row]:
    """One row `{field: paragraph}` per paragraph of a `.txt` file.

    Blank (or whitespace-only) lines separate paragraphs; line breaks inside one are kept.
    """
    block: list[str] = []
    start = 0
    # A blank line appended at the end flushes the last paragraph.
    for number, text in enumerate([*decoded.lines, ""], 1):
        if text.strip():
            if not block:
                start = number
            block.append(text)
        elif block:
            problem = decoded.problem_between(start, start + len(block) - 1)
            yield Row(start, problem=problem) if problem else Row(start, {field: "\n".join(block)})
            block = []


@dataclass(frozen=True)
class CsvTable:
    """The header of a CSV file and its data rows (values keyed by column name)."""

    header: list[str]
    header_line: int
    rows: list[Row]


def csv_table(decoded: DecodedText) -> CsvTable:
    """Read a CSV file with a header row; a tab-separated header means TSV."""
    first = next((text for text in decoded.lines if text.strip()), "")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO("\n".join(decoded.lines)), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows: list[Row] = []
    last_line = 0
    try:
        for values in reader:
            start, last_line = last_line + 1, reader.line_num
            if not any(value.strip() for value in values):
                continue
            if header is None:
                header, header_line = [name.strip() for name in values], start
                continue
            problem = decoded.problem_between(start, last_line)
            rows.append(Row(start, problem=problem) if problem else _csv_row(start, header, values))
    except csv.Error as exc:
        # The reader cannot resynchronise after this, so it ends the table.
        rows.append(Row(last_line + 1, problem=f"not valid CSV ({exc})"))
    return CsvTable(header or [], header_line, rows)


def _csv_row(line: int, header: list[str], values: list[str]) -> Row:
    if len(values) != len(header):
        problem = f"expected {len(header)} values (one per header column), got {len(values)}"
        return Row(line, problem=problem)
    return Row(line, dict(zip(header, values, strict=True)))
