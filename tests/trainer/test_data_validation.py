"""Bad datasets are refused before a job starts, with every bad row named."""

# House style asserts `expected == actual`; ruff's SIM300 (Yoda) says the opposite.

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from trainer.data import DatasetError, load_dataset, read_dataset, read_records
from trainer.spec import DataOptions

ONE = DataOptions(min_examples=1)
CHAT_OK = (
    '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}'
)


def errors_of(path: Path, options: DataOptions = ONE) -> list[str]:
    return [str(error) for error in read_dataset(path, options).errors]


def test_each_bad_jsonl_row_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"text": "fine"}\n'
        "\n"
        '{"text": "unclosed\n'
        '["a list"]\n'
        "{}\n"
        '{"text": "   "}\n'
        '{"text": 42}\n'
        '{"text": null}\n',
        encoding="utf-8",
    )

    assert [
        "line 3: not valid JSON: Unterminated string starting at column 10",
        "line 4: expected a JSON object, got array",
        "line 5: missing field 'text'",
        "line 6: empty field 'text'",
        "line 7: field 'text' must be a string, got number",
        "line 8: field 'text' must be a string, got null",
    ] == errors_of(path)


def test_chat_rows(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        CHAT_OK,
        '{"messages": [{"role": "user", "content": "Hi"}]}',
        '{"messages": [{"role": "bot", "content": "Hi"}, "hello", {"content": "x"}]}',
        '{"messages": [{"role": "assistant", "content": "Yo", "weight": 2}]}',
        '{"messages": [{"role": "assistant", "content": "Yo", "weight": 0}]}',
        '{"messages": "Hi"}',
        '{"messages": []}',
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    assert [
        "line 2: no assistant message (a chat needs at least one 'assistant' message)",
        "line 3: message 1: unknown role 'bot' (allowed: system, user, assistant); "
        "message 2: must be an object, got string; message 3: missing field 'role'",
        "line 4: message 1: field 'weight' must be 0 or 1, got 2",
        "line 5: no trained assistant message (every assistant message has weight 0)",
        "line 6: field 'messages' must be an array, got string",
        "line 7: empty field 'messages'",
    ] == errors_of(path, DataOptions(format="chat", min_examples=1))


def test_completion_and_keywords_rows(tmp_path: Path) -> None:
    completion = tmp_path / "c.jsonl"
    completion.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": 1}\n', encoding="utf-8")
    keywords = tmp_path / "k.jsonl"
    keywords.write_text(
        '{"keywords": ["a"], "text": "t"}\n{"keywords": "a, b", "text": "t"}\n'
        '{"keywords": [], "text": "t"}\n{"keywords": ["a", ""], "text": "t"}\n'
        '{"keywords": ["a"]}\n',
        encoding="utf-8",
    )

    assert [
        "line 2: field 'prompt' must be a string, got number; missing field 'completion'"
    ] == errors_of(completion)
    assert [
        "line 2: field 'keywords' must be an array of strings, got string",
        "line 3: empty field 'keywords'",
        "line 4: keyword 2 is empty",
        "line 5: missing field 'text'",
    ] == errors_of(keywords)


def test_undecodable_bytes_give_line_and_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "bad \xff here"}\n{"text": "ok"}\n')

    report = read_dataset(path, ONE)

    assert 2 == len(report.examples)
    assert [
        "line 2: undecodable bytes: byte 0xff at byte offset 29 of the file is not UTF-8 "
        "(save the file as UTF-8)"
    ] == [str(error) for error in report.errors]


def test_csv_problems(tmp_path: Path) -> None:
    bad_rows = tmp_path / "rows.csv"
    bad_rows.write_text("text,source\nhello,web\n,web\nextra,web,more\n", encoding="utf-8")
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("body,source\nhello,web\n", encoding="utf-8")

    assert [
        "line 3: empty field 'text'",
        "line 4: expected 2 values (one per header column), got 3",
    ] == errors_of(bad_rows)
    assert [
        "file: the CSV header (line 1) has no 'text' column and no 'prompt' and 'completion' "
        "columns (it has 'body', 'source'); rename them or map them with text_column / "
        "prompt_column / completion_column"
    ] == errors_of(bad_header)


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    header_only = tmp_path / "header.csv"
    header_only.write_text("text\n", encoding="utf-8")

    assert ["file: the file is empty"] == errors_of(empty)
    assert ["file: the CSV file has a header but no rows"] == errors_of(header_only)


def test_fewer_than_min_examples_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n' * 9, encoding="utf-8")

    with pytest.raises(DatasetError) as caught:
        load_dataset(path)

    assert ["file: only 9 valid examples; at least 10 are needed"] == [
        str(error) for error in caught.value.report.errors
    ]
    assert 9 == len(load_dataset(path, DataOptions(min_examples=9)).examples)


def test_skip_invalid_keeps_valid_rows_and_counts_skipped(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\nnope\n{"text": "b"}\n{"text": ""}\n', encoding="utf-8")

    refused = read_dataset(path, ONE)
    report = load_dataset(path, DataOptions(min_examples=1, skip_invalid=True))

    assert (False, 0) == (refused.ok, refused.skipped)
    assert (True, 2, ["a", "b"]) == (report.ok, report.skipped, [e.text for e in report.examples])
    assert report.summary().startswith(
        f"{path} (text): 4 rows, 2 valid examples, 2 invalid rows skipped — ok"
    )


def test_skip_invalid_still_needs_min_examples(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\nnope\n', encoding="utf-8")

    report = read_dataset(path, DataOptions(min_examples=2, skip_invalid=True))

    assert (False, "file: only 1 valid example; at least 2 are needed") == (
        report.ok,
        str(report.errors[0]),
    )


def test_summary_lists_first_20_errors_then_how_many_more(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n' * 10 + "{}\n" * 32, encoding="utf-8")

    summary = read_dataset(path).summary()

    expected = [
        f"{path} (text): 42 rows, 10 valid examples, 32 invalid rows — refused",
        "Errors:",
        *[f"  line {line}: missing field 'text'" for line in range(11, 31)],
        "  … and 12 more",
        "Fix these rows, or retry with skip_invalid to train on the valid ones.",
    ]
    assert expected == summary.splitlines()


def test_long_examples_are_warned_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "short"}\n{"text": "' + "x" * 40 + '"}\n', encoding="utf-8")

    estimated = read_dataset(path, ONE, block_size=8)
    counted = read_dataset(path, ONE, block_size=8, count_tokens=len)

    assert (True, []) == (estimated.ok, estimated.errors)
    assert [
        "1 example is longer than the block size (8 tokens, estimated as UTF-8 bytes / 4) "
        "and will be split across blocks (line 2)"
    ] == estimated.warnings
    assert [
        "1 example is longer than the block size (8 tokens) and will be split across blocks "
        "(line 2)"
    ] == counted.warnings


def test_to_dict_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    data = b'{"text": "a"}\n{"text": 1}\n'
    path.write_bytes(data)

    assert {
        "path": str(path),
        "format": "text",
        "ok": False,
        "examples": 1,
        "total_rows": 2,
        "skipped": 0,
        "sha256": hashlib.sha256(data).hexdigest(),
        "errors": [{"line": 2, "message": "field 'text' must be a string, got number"}],
        "warnings": [],
    } == read_dataset(path, ONE).to_dict()


def test_unknown_format_and_undetectable_content(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"body": "a"}\n', encoding="utf-8")

    assert [
        "file: unknown format 'yaml' (allowed: text, completion, chat, keywords, csv, preference)"
    ] == errors_of(path, DataOptions(format="yaml"))
    assert [
        "file: cannot tell the format: no record among the first has a 'messages', 'keywords', "
        "'prompt' and 'completion', or 'text' field; name the format explicitly"
    ] == errors_of(path)


def test_records_hash_matches_the_same_records_as_jsonl(tmp_path: Path) -> None:
    records = [{"text": "é"}]
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(records[0], ensure_ascii=False) + "\n", encoding="utf-8")

    assert read_dataset(path, ONE).sha256 == read_records(records, "text", ONE).sha256
