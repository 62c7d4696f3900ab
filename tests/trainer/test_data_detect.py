"""Formats are detected by extension, then by the keys of the first records."""

# House style asserts `expected == actual`; ruff's SIM300 (Yoda) says the opposite.

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data import detect_format


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.txt", '{"messages": []}', "text"),
        ("a.csv", '{"text": "x"}', "csv"),
        ("a.TSV", "text\tx", "csv"),
        ("a.jsonl", '{"messages": [], "text": "x"}', "chat"),
        ("a.jsonl", '{"keywords": ["a"], "text": "x"}', "keywords"),
        ("a.json", '{"prompt": "p", "completion": "c", "text": "t"}', "completion"),
        ("a.data", '{"text": "t", "prompt": "p"}', "text"),
        ("a.jsonl", 'broken\n["list"]\n{"other": 1}\n\n{"text": "t"}', "text"),
        ("a.json", '[\n {"messages": []},\n {"text": "x"}\n]', "chat"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    assert expected == detect_format(path)


def test_detect_from_a_head_cut_mid_line() -> None:
    head = b'{"prompt": "p", "completion": "c"}\n{"prompt": "unfini'

    assert "completion" == detect_format("upload.jsonl", head)


def test_undecidable_content_raises_a_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"body": "x"}\n', encoding="utf-8")

    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format(path)
