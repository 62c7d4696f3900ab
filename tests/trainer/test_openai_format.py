"""Datasets become OpenAI chat rows, and rows breaking OpenAI's rules are reported by line."""

from __future__ import annotations

from typing import Any

from trainer.data import read_records
from trainer.data.report import RowError
from trainer.openai_format import check_row, convert_report, count_tokens, token_limit
from trainer.spec import DataOptions

ONE = DataOptions(min_examples=1)


def chat(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in pairs]}


def converted(records: list[Any], fmt: str | None = None, model: str = "gpt-4o-mini") -> Any:
    return convert_report(read_records(records, fmt, ONE), model)


def test_completion_and_keywords_become_a_user_and_an_assistant_message() -> None:
    completion = converted([{"prompt": "Q: 2+2? ", "completion": "4"}] * 10)
    keywords = converted([{"keywords": ["boat", " dog"], "text": "A dog on a boat."}] * 10)

    assert completion.ok and keywords.ok
    assert chat(("user", "Q: 2+2?"), ("assistant", "4")) == completion.rows[0]
    expected = chat(("user", "Keywords: boat, dog"), ("assistant", "A dog on a boat."))
    assert expected == keywords.rows[0]
    assert list(range(1, 11)) == completion.lines


def test_chat_keeps_its_messages_and_only_a_meaningful_weight() -> None:
    record = {
        "messages": [
            {"role": "system", "content": "Be terse.", "weight": 1},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello?", "weight": 0},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Hello.", "weight": 1},
        ]
    }

    result = converted([record] * 10)

    assert [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello?", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello."},
    ] == result.rows[0]["messages"]
    assert b'{"messages": [{"role": "system"' == result.jsonl()[:31]
    assert 10 == result.jsonl().count(b"\n")


def test_plain_text_and_too_few_examples_are_refused_for_the_whole_file() -> None:
    text = converted([{"text": "just prose"}] * 12)
    few = converted([{"prompt": "a", "completion": "b"}] * 9)

    assert not text.ok
    assert 0 == text.errors[0].line
    assert "plain text examples cannot be fine-tuned at OpenAI" in text.errors[0].message
    assert [RowError(0, "OpenAI needs at least 10 examples, this dataset has 9")] == few.errors


def test_an_example_over_the_models_context_is_named_by_its_line() -> None:
    records = [{"prompt": "q", "completion": "a"}] * 12
    records[4] = {"prompt": "q", "completion": "x" * 70_000}

    result = converted(records, model="gpt-3.5-turbo-0125")

    assert [
        RowError(
            5,
            "about 17510 tokens (estimated), more than the 16385 one example may have "
            "for this model",
        )
    ] == result.errors
    assert "  line 5: about 17510 tokens" in result.summary("qa@v1")
    assert result.summary("qa@v1").startswith(
        "qa@v1 cannot be fine-tuned at OpenAI (gpt-3.5-turbo-0125): 12 examples, 1 breaking"
    )
    assert converted(records, model="gpt-4o-mini-2024-07-18").ok


def test_the_rules_themselves() -> None:
    bad = {
        "messages": [
            {"role": "narrator", "content": "Once", "mood": "calm"},
            {"role": "user", "content": 5, "weight": 1},
        ]
    }

    assert [
        "message 1: unknown key 'mood'",
        "message 1: unknown role 'narrator' (allowed: system, user, assistant, tool, function)",
        "message 2: 'content' must be a string",
        "message 2: 'weight' is allowed on assistant messages only",
        "no assistant message (OpenAI learns only from assistant messages)",
    ] == check_row(bad, 1000)
    assert ["'messages' must be a non-empty list"] == check_row({"messages": []}, 1000)
    assert 3 + (3 + 1) + (3 + 2) == count_tokens(chat(("user", "Hi"), ("assistant", "Hello.")))


def test_token_limits_by_base_model() -> None:
    assert 65_536 == token_limit("gpt-4o-mini-2024-07-18")
    assert 65_536 == token_limit("ft:gpt-4o-mini-2024-07-18:org:faq:abc")
    assert 16_385 == token_limit("gpt-3.5-turbo-0125")
    assert 16_385 == token_limit("some-compatible-model")
