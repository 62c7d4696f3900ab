"""The generated demo dataset: deterministic, valid, and its keywords are in its stories."""

from bot.dev.demo.data import DEFAULT_COUNT, demo_records
from trainer.data import keyword_prefix, read_records


def test_same_seed_same_stories_other_seed_other_stories() -> None:
    assert demo_records() == demo_records()
    assert demo_records(seed=1) != demo_records(seed=2)
    assert 20 == len(demo_records(count=20))


def test_valid_keywords_dataset_of_a_few_hundred_stories() -> None:
    report = read_records(demo_records())

    assert report.ok, report.summary()
    assert "keywords" == report.format
    assert DEFAULT_COUNT == len(report.examples) >= 200
    assert [] == report.errors


def test_every_keyword_appears_in_its_story() -> None:
    missing = [
        (keyword, record["text"])
        for record in demo_records()
        for keyword in record["keywords"]
        if keyword not in record["text"]
    ]

    assert [] == missing


def test_stories_vary_and_the_model_sees_the_keyword_line_first() -> None:
    records = demo_records()
    report = read_records(records)

    assert len({r["text"] for r in records}) > 0.9 * len(records)
    assert len({tuple(r["keywords"]) for r in records}) > 100
    first_text = "".join(text for text, _ in report.examples[0].segments)
    assert first_text.startswith(keyword_prefix(records[0]["keywords"]))
