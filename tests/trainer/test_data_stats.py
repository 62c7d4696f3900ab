"""Token statistics, checked against counts worked out by hand."""

# House style asserts `expected == actual`; ruff's SIM300 (Yoda) says the opposite.

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from trainer.data import DatasetStats, compute_stats, read_dataset, split_examples
from trainer.data.report import DatasetReport
from trainer.data.split import validation_count
from trainer.data.stats import length_histogram
from trainer.spec import DataOptions
from trainer.tokenizer import train_bpe_tokenizer

# (prompt, completion); the prompt gets a "\n" unless it ends in whitespace.
PAIRS = [("a", "bb"), ("ccc", "dddd"), ("Q: ", "é"), ("x", "y" * 10), ("hello", "world!")]


def completion_report(tmp_path: Path) -> DatasetReport:
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"prompt": p, "completion": c}) for p, c in PAIRS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_dataset(path, DataOptions(min_examples=1))


def test_exact_stats_with_one_token_per_byte(tmp_path: Path) -> None:
    report = completion_report(tmp_path)
    # vocab_size 257 leaves no room for merges: every UTF-8 byte is one token, so the
    # counts are: a\n+bb=4, ccc\n+dddd=8, "Q: "+é=5, x\n+y*10=12, hello\n+world!=12,
    # each plus one end-of-text token.
    tokenizer = train_bpe_tokenizer([e.text for e in report.examples], vocab_size=257)

    stats = compute_stats(
        report, tokenizer, block_size=10, epochs=2.5, val_fraction=0, tokens_per_s=23
    )

    assert (
        DatasetStats(
            examples=5,
            total_tokens=5 + 9 + 6 + 13 + 13,
            min_tokens=5,
            max_tokens=13,
            mean_tokens=46 / 5,
            median_tokens=9.0,
            p5_tokens=5,  # rank ceil(0.05 * 5) = 1 of [5, 6, 9, 13, 13]
            p95_tokens=13,  # rank ceil(0.95 * 5) = 5
            over_block_size=2,
            trained_tokens=(2 + 4 + 2 + 10 + 6) + 5,  # completions plus their end-of-text
            block_size=10,
            epochs=2.5,
            train_examples=5,
            val_examples=0,
            train_tokens=46,
            training_tokens=115,
            estimated_seconds=5.0,
            # from 4 (just below min 5) to 13 → width 1, 9 bins; bin i holds length 5 + i
            length_histogram={"edges": list(range(4, 14)), "counts": [1, 1, 0, 0, 1, 0, 0, 0, 2]},
        )
        == stats
    )


def test_stats_with_a_trained_tokenizer_match_encoding_each_segment(tmp_path: Path) -> None:
    report = completion_report(tmp_path)
    tokenizer = train_bpe_tokenizer([e.text for e in report.examples], vocab_size=300)
    per_example = [
        sum(len(tokenizer.encode(text, add_special_tokens=False).ids) for text, _ in e.segments) + 1
        for e in report.examples
    ]
    train, _ = split_examples(per_example, 0.2, seed=7)

    stats = compute_stats(report, tokenizer, block_size=10, epochs=1, val_fraction=0.2, seed=7)

    assert (sum(per_example), max(per_example), 4, 1, sum(train), None) == (
        stats.total_tokens,
        stats.max_tokens,
        stats.train_examples,
        stats.val_examples,
        stats.training_tokens,
        stats.estimated_seconds,
    )


def test_histogram_counts_every_example_once_in_increasing_bins(tmp_path: Path) -> None:
    report = completion_report(tmp_path)
    tokenizer = train_bpe_tokenizer([e.text for e in report.examples], vocab_size=300)

    stats = compute_stats(report, tokenizer, block_size=10, epochs=1)

    edges, counts = stats.length_histogram["edges"], stats.length_histogram["counts"]
    assert len(report.examples) == sum(counts)
    assert len(edges) == len(counts) + 1
    assert all(lo < hi for lo, hi in pairwise(edges))
    assert edges[0] < stats.min_tokens <= edges[1]  # the first bin holds the shortest
    assert edges[-2] < stats.max_tokens <= edges[-1]  # the last bin holds the longest


def test_histogram_bins_are_at_most_twenty_and_right_closed() -> None:
    # from 0 (min 1) to 100 → width ceil(100 / 20) = 5: bin i holds lengths 5i+1 .. 5i+5
    histogram = length_histogram([1, 40, 41, 100, 7, 5, 6])

    expected_counts = [0] * 20
    for index in (0, 7, 8, 19, 1, 0, 1):
        expected_counts[index] += 1
    assert {"edges": list(range(0, 101, 5)), "counts": expected_counts} == histogram
    # from 9 (min 10) to 17 in 2 bins → width 4: 10..13 and 14..17
    assert {"edges": [9, 13, 17], "counts": [2, 1]} == length_histogram([10, 13, 17], bins=2)
    assert {"edges": [6, 7], "counts": [3]} == length_histogram([7, 7, 7])
    assert {"edges": [0], "counts": []} == length_histogram([])


def test_split_is_seeded_disjoint_and_keeps_file_order() -> None:
    items = list(range(20))

    train, val = split_examples(items, 0.1, seed=3)

    assert (18, 2) == (len(train), len(val))
    assert (train, val) == split_examples(items, 0.1, seed=3)
    assert items == sorted(train + val)
    assert train == sorted(train)
    assert [0, 0, 1, 1, 4] == [
        validation_count(n, f) for n, f in [(1, 0.5), (9, 0), (2, 0.01), (2, 0.9), (40, 0.1)]
    ]


def test_format_text_and_to_dict(tmp_path: Path) -> None:
    report = completion_report(tmp_path)
    tokenizer = train_bpe_tokenizer([e.text for e in report.examples], vocab_size=257)

    stats = compute_stats(
        report, tokenizer, block_size=10, epochs=2.5, val_fraction=0, tokens_per_s=0.5
    )

    assert (
        "examples            5\n"
        "tokens              46\n"
        "trained tokens      29\n"
        "tokens per example  min 5, median 9, mean 9.2, max 13\n"
        "percentiles         p5 5, p95 13\n"
        "over block size     2 (block size 10)\n"
        "train / validation  5 / 0 examples\n"
        "training tokens     115 (2.5 epochs)\n"
        "estimated time      3m 50s"
    ) == stats.format_text()
    assert 230.0 == stats.to_dict()["estimated_seconds"]


def test_empty_report_gives_zeros(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("", encoding="utf-8")
    tokenizer = train_bpe_tokenizer(["abc"], vocab_size=257)

    stats = compute_stats(read_dataset(path), tokenizer, block_size=8, epochs=1)

    assert (0, 0, 0, 0.0, 0, {"edges": [0], "counts": []}) == (
        stats.examples,
        stats.total_tokens,
        stats.p95_tokens,
        stats.median_tokens,
        stats.training_tokens,
        stats.length_histogram,
    )
