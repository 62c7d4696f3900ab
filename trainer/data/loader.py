"""Read and validate a whole dataset: `read_dataset`, `load_dataset`, `read_records`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.data import detect
from trainer.data.blocks import CountTokens, block_warnings
from trainer.data.preference import build_preference
from trainer.data.readers import (
    DecodedText,
    Row,
    csv_table,
    decode_lines,
    is_json_array,
    json_array_rows,
    jsonl_rows,
    paragraph_rows,
)
from trainer.data.report import FILE_LINE, DatasetError, DatasetReport, Example, RowError
from trainer.data.rows import FieldNames, InvalidRow, build_example, json_type
from trainer.spec import DATASET_FORMATS, DataOptions

DEFAULT_OPTIONS = DataOptions()


@dataclass
class _Reading:
    """The parts of a report worked out before the rows are validated."""

    format: str
    rows: Iterable[Row] = ()
    row_format: str = "text"  # how each record is validated (csv rows are text/completion)
    file_errors: list[str] = field(default_factory=list)
    empty_message: str = "the file is empty"


def read_dataset(
    path: str | Path,
    options: DataOptions = DEFAULT_OPTIONS,
    block_size: int | None = None,
    count_tokens: CountTokens | None = None,
) -> DatasetReport:
    """Read and validate a dataset file; bad content is reported, never raised.

    `block_size` turns on the warning about examples that will be split across blocks;
    `count_tokens` counts an example's tokens for it (default: UTF-8 bytes / 4).
    OS errors such as a missing file are raised as usual.
    """
    data = Path(path).read_bytes()
    reading = _read_file(Path(path), data, options)
    return _report(
        str(path), hashlib.sha256(data).hexdigest(), reading, options, block_size, count_tokens
    )


def load_dataset(
    path: str | Path,
    options: DataOptions = DEFAULT_OPTIONS,
    block_size: int | None = None,
    count_tokens: CountTokens | None = None,
) -> DatasetReport:
    """Like `read_dataset`, but raises `DatasetError` when training may not start."""
    report = read_dataset(path, options, block_size, count_tokens)
    if not report.ok:
        raise DatasetError(report)
    return report


def read_records(
    records: Sequence[object],
    format: str | None = None,
    options: DataOptions = DEFAULT_OPTIONS,
    block_size: int | None = None,
    count_tokens: CountTokens | None = None,
) -> DatasetReport:
    """Validate records sent as JSON (e.g. over HTTP); record N is reported as line N.

    The hash is that of the records written as JSONL (one compact object per line), so
    storing them as such a file keeps the same `sha256`.
    """
    jsonl = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    rows = [Row(index, record) for index, record in enumerate(records, 1)]
    names = FieldNames.from_options(options)
    chosen = format or options.format
    reading = _Reading(chosen or "text", rows, empty_message="no records were sent")
    found = detect.format_from_values(records, names)
    if chosen is not None and chosen not in DATASET_FORMATS:
        reading.file_errors.append(_unknown_format(chosen))
    elif chosen == "csv":
        reading.row_format = "completion" if found == "completion" else "text"
    elif chosen is not None:
        reading.row_format = chosen
    elif found is None:
        reading.file_errors.append(detect.undetected_message())
    else:
        reading.format = reading.row_format = found
    digest = hashlib.sha256(jsonl.encode()).hexdigest()
    return _report("<records>", digest, reading, options, block_size, count_tokens)


def _read_file(path: Path, data: bytes, options: DataOptions) -> _Reading:
    chosen = options.format
    if chosen is not None and chosen not in DATASET_FORMATS:
        return _Reading(chosen, file_errors=[_unknown_format(chosen)])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _Reading(chosen or "text", file_errors=["the file is UTF-16; save it as UTF-8"])
    decoded = decode_lines(data)
    suffix = path.suffix.lower()
    if chosen == "csv" or (
        suffix in detect.CSV_SUFFIXES and chosen in (None, "text", "completion")
    ):
        return _read_csv(decoded, chosen, FieldNames.from_options(options))
    if suffix == ".txt" and chosen in (None, "text"):
        return _Reading("text", paragraph_rows(decoded, options.text_column))
    rows = list(json_array_rows(decoded) if is_json_array(decoded) else jsonl_rows(decoded))
    if chosen is not None:
        return _Reading(chosen, rows, chosen)
    found = detect.format_from_values(
        (row.value for row in rows if row.problem is None), FieldNames.from_options(options)
    )
    if found is None and any(row.problem is None for row in rows):
        return _Reading("text", rows, file_errors=[detect.undetected_message()])
    return _Reading(found or "text", rows, found or "text")


def _read_csv(decoded: DecodedText, chosen: str | None, names: FieldNames) -> _Reading:
    table = csv_table(decoded)
    reading = _Reading(chosen or "csv", table.rows, empty_message="the file is empty")
    if not table.header:
        return reading
    if not table.rows:
        reading.empty_message = "the CSV file has a header but no rows"
    wants_text = chosen in (None, "csv", "text") and names.text in table.header
    wants_completion = chosen in (None, "csv", "completion") and {
        names.prompt,
        names.completion,
    } <= set(table.header)
    if wants_text:
        reading.row_format = "text"
    elif wants_completion:
        reading.row_format = "completion"
    else:
        found = ", ".join(f"'{name}'" for name in table.header)
        reading.file_errors.append(
            f"the CSV header (line {table.header_line}) has no '{names.text}' column and no "
            f"'{names.prompt}' and '{names.completion}' columns (it has {found}); "
            "rename them or map them with text_column / prompt_column / completion_column"
        )
    return reading


def _report(
    path: str,
    sha256: str,
    reading: _Reading,
    options: DataOptions,
    block_size: int | None,
    count_tokens: CountTokens | None,
) -> DatasetReport:
    examples: list[Example] = []
    row_errors: list[RowError] = []
    total = 0
    if not reading.file_errors:
        total = _validate_rows(reading, FieldNames.from_options(options), examples, row_errors)
    file_errors = list(reading.file_errors)
    if not file_errors and total == 0:
        file_errors.append(reading.empty_message)
    elif not file_errors and len(examples) < options.min_examples:
        file_errors.append(
            f"only {len(examples)} valid {'example' if len(examples) == 1 else 'examples'}; "
            f"at least {options.min_examples} are needed"
        )
    warnings = block_warnings(examples, block_size, count_tokens)
    return DatasetReport(
        path=path,
        format=reading.format,
        examples=examples,
        errors=[RowError(FILE_LINE, message) for message in file_errors] + row_errors,
        warnings=warnings,
        total_rows=total,
        skipped=len(row_errors) if options.skip_invalid else 0,
        sha256=sha256,
        skip_invalid=options.skip_invalid,
        min_examples=options.min_examples,
    )


def _validate_rows(
    reading: _Reading, names: FieldNames, examples: list[Example], errors: list[RowError]
) -> int:
    """Validate every row into `examples` or `errors`; returns how many rows there were."""
    total = 0
    for row in reading.rows:
        total += 1
        try:
            if row.problem is not None:
                raise InvalidRow(row.problem)
            if reading.row_format == "preference":
                examples.append(build_preference(row.line, _object(row.value), names))
            else:
                examples.append(build_example(reading.row_format, row.line, row.value, names))
        except InvalidRow as exc:
            errors.append(RowError(row.line, str(exc)))
    return total


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRow(f"expected a JSON object, got {json_type(value)}")
    return value


def _unknown_format(name: str) -> str:
    return f"unknown format '{name}' (allowed: {', '.join(DATASET_FORMATS)})"
