"""Each dataset format is read into the examples the training side will see."""

# House style asserts `expected == actual`; ruff's SIM300 (Yoda) says the opposite.

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.data import (
    CHAT_STOP,
    Example,
    chat_prompt,
    completion_prompt,
    keyword_prefix,
    read_dataset,
    read_records,
)
from trainer.spec import DataOptions

ONE = DataOptions(min_examples=1)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_jsonl_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "Hello"}, {"text": "World"}])

    report = read_dataset(path, ONE)

    assert ("text", True, []) == (report.format, report.ok, report.errors)
    assert [Example(1, (("Hello", True),)), Example(2, (("World", True),))] == report.examples


def test_txt_is_split_on_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("First line\nsecond line\n\n\n  \nThird\r\n\nFourth\n", encoding="utf-8")

    report = read_dataset(path, ONE)

    assert "text" == report.format
    assert [(1, "First line\nsecond line"), (6, "Third"), (8, "Fourth")] == [
        (example.line, example.text) for example in report.examples
    ]


def test_completion_separator_and_trained_part(tmp_path: Path) -> None:
    records = [
        {"prompt": "Q: 2+2?", "completion": "4"},
        {"prompt": "Answer: ", "completion": "yes"},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", records)

    report = read_dataset(path, ONE)

    assert "completion" == report.format
    assert [
        (("Q: 2+2?\n", False), ("4", True)),
        (("Answer: ", False), ("yes", True)),
    ] == [example.segments for example in report.examples]
    assert "Q: 2+2?\n" == completion_prompt("Q: 2+2?")


def test_chat_plain_template_trains_assistant_messages_with_weight_1(tmp_path: Path) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello.", "weight": 0},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Bye."},
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": messages}])

    report = read_dataset(path, ONE)

    assert "chat" == report.format
    (example,) = report.examples
    assert (
        (
            "<|im_start|>system\nBe terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n",
            False,
        ),
        ("Bye.<|im_end|>", True),
        ("\n", False),
    ) == example.segments
    assert [{**message, "weight": message.get("weight", 1)} for message in messages] == list(
        example.messages
    )


def test_chat_prompt_opens_an_assistant_turn() -> None:
    prompt = chat_prompt([{"role": "user", "content": "Hi"}])

    assert "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" == prompt
    assert "<|im_end|>" == CHAT_STOP


def test_keywords_use_keyword_prefix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "k.jsonl", [{"keywords": ["boat", " big\n dog "], "text": "A."}])

    report = read_dataset(path, ONE)

    (example,) = report.examples
    assert "keywords" == report.format
    assert "Keywords: boat, big dog\n" == keyword_prefix(["boat", " big\n dog "])
    assert ((keyword_prefix(["boat", " big\n dog "]), False), ("A.", True)) == example.segments
    assert ("boat", " big\n dog ") == example.keywords


def test_csv_text_column_with_quoted_newline(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('id,text\n1,Hello\n2,"Two\nlines"\n3,"Say ""hi"""\n', encoding="utf-8")

    report = read_dataset(path, ONE)

    assert "csv" == report.format
    assert [(2, "Hello"), (3, "Two\nlines"), (5, 'Say "hi"')] == [
        (example.line, example.text) for example in report.examples
    ]


def test_csv_prompt_completion_gives_completion_examples(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("prompt,completion\nQ: hi,hello\n", encoding="utf-8")

    report = read_dataset(path, ONE)

    assert [(("Q: hi\n", False), ("hello", True))] == [e.segments for e in report.examples]


def test_csv_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("question,answer\nWhy?,Because.\n", encoding="utf-8")
    options = DataOptions(min_examples=1, prompt_column="question", completion_column="answer")

    report = read_dataset(path, options)

    assert [(("Why?\n", False), ("Because.", True))] == [e.segments for e in report.examples]


def test_tsv_header_with_tabs(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("text\tsource\nHello, world\tweb\n", encoding="utf-8")

    report = read_dataset(path, ONE)

    assert ["Hello, world"] == [example.text for example in report.examples]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"text": "caf\xc3\xa9"}\n')
    csv_file = tmp_path / "d.csv"
    csv_file.write_bytes(b"\xef\xbb\xbftext\nna\xc3\xafve\n")

    assert ["café"] == [example.text for example in read_dataset(jsonl, ONE).examples]
    assert ["naïve"] == [example.text for example in read_dataset(csv_file, ONE).examples]


def test_json_array_file_reports_element_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[\n  {"text": "a"},\n  {"text":\n    "b"}\n]\n', encoding="utf-8")

    report = read_dataset(path, ONE)

    assert [(2, "a"), (3, "b")] == [(example.line, example.text) for example in report.examples]


def test_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.txt", [{"text": "x", "prompt": "p", "completion": "c"}])

    report = read_dataset(path, DataOptions(format="completion", min_examples=1))

    assert ("completion", ["p\nc"]) == (report.format, [e.text for e in report.examples])


def test_read_records_numbers_records_from_1() -> None:
    report = read_records([{"text": "a"}, {"text": ""}], None, ONE)

    assert ("text", [1]) == (report.format, [example.line for example in report.examples])
    assert ["line 2: empty field 'text'"] == [str(error) for error in report.errors]
