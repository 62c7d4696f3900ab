"""Packing examples into blocks, label masking, chat templates, throughput estimates."""

from __future__ import annotations

import random
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from trainer.data import Example
from trainer.packing import IGNORE_INDEX, TokenizedExample, pack, tokenize_examples
from trainer.throughput import (
    BUILTIN_OVERHEAD_S,
    BUILTIN_TOKENS_PER_S,
    estimate_seconds,
    read_measurements,
    record_throughput,
    refined_eta,
    remaining_seconds,
)
from trainer.tokenizer import SPECIAL_TOKENS, train_bpe_tokenizer

EOS = 0
PAD = 0


def example(ids: list[int], trained: list[bool]) -> TokenizedExample:
    return TokenizedExample(ids=ids, trained=trained)


def test_examples_are_joined_by_eos_and_cut_into_full_blocks() -> None:
    blocks = pack(
        [example([1, 2, 3], [True] * 3), example([4, 5, 6, 7, 8], [True] * 5)],
        block_size=4,
        eos_id=EOS,
        pad_id=PAD,
    )

    assert blocks.input_ids == [[1, 2, 3, EOS], [4, 5, 6, 7], [8, EOS, PAD, PAD]]
    assert blocks.labels[2] == [8, EOS, IGNORE_INDEX, IGNORE_INDEX]
    assert blocks.useful_tokens == 10
    assert blocks.useful_fraction == 10 / 12


def test_untrained_tokens_are_masked_and_their_eos_too_when_nothing_is_trained() -> None:
    blocks = pack(
        [example([1, 2, 3, 4], [False, False, True, True]), example([5, 6, 7], [False] * 3)],
        block_size=9,
        eos_id=EOS,
        pad_id=PAD,
    )

    assert blocks.input_ids == [[1, 2, 3, 4, EOS, 5, 6, 7, EOS]]
    ignored = IGNORE_INDEX
    assert blocks.labels == [[ignored, ignored, 3, 4, EOS, ignored, ignored, ignored, ignored]]


def test_blocks_without_any_trained_label_are_dropped() -> None:
    blocks = pack(
        [example([1, 2, 3], [False] * 3), example([4, 5, 6], [True] * 3)],
        block_size=4,
        eos_id=EOS,
        pad_id=PAD,
    )

    assert blocks.input_ids == [[4, 5, 6, EOS]]


def test_segments_are_tokenized_with_their_trained_flags() -> None:
    texts = ["Keywords: boat\nthe boat sails.", "Q: why?\nbecause."] * 20
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe_tokenizer(texts, vocab_size=300), **SPECIAL_TOKENS
    )
    item = Example(line=1, segments=(("Keywords: boat\n", False), ("the boat sails.", True)))

    (tokenized,) = tokenize_examples([item], tokenizer)

    prefix = tokenizer("Keywords: boat\n", add_special_tokens=False)["input_ids"]
    assert tokenized.trained == [False] * len(prefix) + [True] * (len(tokenized.ids) - len(prefix))
    assert tokenizer.decode(tokenized.ids) == item.text


def test_a_chat_template_trains_only_assistant_turns_with_weight_one() -> None:
    texts = ["user: hi\nassistant: hello\n"] * 20
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe_tokenizer(texts, vocab_size=300), **SPECIAL_TOKENS
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    )
    messages = (
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "skipped", "weight": 0},
    )
    item = Example(line=1, segments=(("unused", True),), messages=messages)

    (tokenized,) = tokenize_examples([item], tokenizer)

    trained_text = tokenizer.decode(
        [t for t, on in zip(tokenized.ids, tokenized.trained, strict=True) if on]
    )
    assert trained_text == "assistant: hello"  # the newline after a turn is the template's


def test_estimates_use_measured_speed_and_fall_back_to_builtin_figures(tmp_path: Path) -> None:
    path = tmp_path / "speed.json"

    unmeasured = estimate_seconds(90_000, "tiny", path)
    record_throughput(path, "tiny", "cpu", 30_000.0)
    record_throughput(path, "tiny", "cpu", 10_000.0)
    measured = estimate_seconds(90_000, "tiny", path)

    assert unmeasured == estimate_seconds(90_000, "tiny") > 0
    assert read_measurements(path)["tiny|cpu"]["runs"] == 2
    # the running average of the step speed, plus the built-in fixed cost (none measured)
    assert measured == BUILTIN_OVERHEAD_S["tiny"] + 90_000 / 20_000.0
    small = BUILTIN_OVERHEAD_S["small"] + 1000 / BUILTIN_TOKENS_PER_S["small"]
    assert small == estimate_seconds(1000, "/some/model")


def test_a_runs_fixed_cost_is_measured_and_added_to_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "speed.json"
    # 30 s in all, 10 s of them in optimizer steps (20,000 tokens at 2,000 tok/s)
    record_throughput(path, "micro", "cpu", 2000.0, {"duration_s": 30.0, "tokens_seen": 20_000})

    assert 20.0 + 40_000 / 2000.0 == estimate_seconds(40_000, "micro", path)


def test_what_is_left_counts_steps_at_their_own_pace_and_the_evaluations_due() -> None:
    assert 10 * 0.5 + 2 * 3.0 == remaining_seconds(10, 0.5, 2, 3.0)
    assert 0.0 == remaining_seconds(0, 0.5, 0, 3.0)


def test_the_estimate_is_refined_by_the_run_and_gives_way_to_it_from_half_way() -> None:
    # 100 s estimated, 10 s run: 90 s left by the estimate; the first steps measure 300 s
    assert 90.0 == refined_eta(100.0, 10.0, 0, 30, 300.0)
    assert 0.8 * 90.0 + 0.2 * 300.0 == refined_eta(100.0, 10.0, 3, 30, 300.0)
    assert 40.0 == refined_eta(100.0, 60.0, 15, 30, 40.0)  # half-way: the run alone
    assert 70.0 == refined_eta(100.0, 120.0, 3, 30, 70.0)  # an overrun estimate says nothing
    assert 70.0 == refined_eta(None, 10.0, 3, 30, 70.0)


def test_packing_feeds_at_least_99_percent_real_tokens_at_every_presets_block_size() -> None:
    from trainer.models import PRESET_CONFIGS
    from trainer.spec import Hyperparameters

    rng = random.Random(0)
    words = ["the", "river", "boat", "sails", "under", "a", "bright", "old", "bridge", "at", "dawn"]
    texts = [" ".join(rng.choices(words, k=rng.randint(5, 60))) for _ in range(600)]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe_tokenizer(texts, vocab_size=300), **SPECIAL_TOKENS
    )
    # plain texts and prompt/completion pairs (untrained prompts still count as real data)
    examples = [Example(line=i, segments=((t, True),)) for i, t in enumerate(texts[:300])] + [
        Example(line=i, segments=((f"Q: {t[:20]}\n", False), (t, True)))
        for i, t in enumerate(texts[300:])
    ]
    tokenized = tokenize_examples(examples, tokenizer)

    fractions = {
        name: pack(tokenized, min(Hyperparameters().block_size, p.n_positions), EOS, PAD)
        for name, p in PRESET_CONFIGS.items()
    }

    assert {name: True for name in PRESET_CONFIGS} == {
        name: blocks.useful_fraction >= 0.99 for name, blocks in fractions.items()
    }
