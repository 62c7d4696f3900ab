"""Byte-level BPE tokenizers trained and loaded without transformers."""

# House style asserts `expected == actual`; ruff's SIM300 (Yoda) says the opposite.

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from trainer.tokenizer import (
    EOS_TOKEN,
    SPECIAL_TOKENS,
    eos_id,
    load_tokenizer_file,
    train_bpe_tokenizer,
)

TEXTS = ["The boat sails.", "A dog on the boat.", " café, naïve ☃\n\ttabs"] * 5


def test_eos_is_id_0_and_every_byte_is_in_the_vocabulary() -> None:
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=300)

    assert (0, EOS_TOKEN) == (eos_id(tokenizer), tokenizer.id_to_token(0))
    assert 257 <= tokenizer.get_vocab_size() <= 300
    assert [0] == tokenizer.encode(EOS_TOKEN).ids


def test_training_is_deterministic() -> None:
    assert train_bpe_tokenizer(TEXTS, 300).to_str() == train_bpe_tokenizer(TEXTS, 300).to_str()


@pytest.mark.parametrize("text", ["The boat sails.", " leading space", "emoji 🚤 and ☃", "x\r\n"])
def test_decode_gives_back_the_text(text: str) -> None:
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=300)

    assert text == tokenizer.decode(tokenizer.encode(text).ids)


def test_without_merges_every_utf8_byte_is_one_token() -> None:
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=257)

    assert len("héllo ☃".encode()) == len(tokenizer.encode("héllo ☃").ids)


def test_vocab_size_below_the_byte_alphabet_is_refused() -> None:
    with pytest.raises(ValueError, match="vocab_size must be at least 257, got 100"):
        train_bpe_tokenizer(TEXTS, vocab_size=100)


def test_load_tokenizer_file_from_a_model_folder(tmp_path: Path) -> None:
    trained = train_bpe_tokenizer(TEXTS, vocab_size=300)
    trained.save(str(tmp_path / "tokenizer.json"))

    loaded = load_tokenizer_file(tmp_path)

    assert trained.encode("A dog").ids == loaded.encode("A dog").ids
    assert loaded.to_str() == load_tokenizer_file(tmp_path / "tokenizer.json").to_str()


def test_missing_tokenizer_file_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        load_tokenizer_file(tmp_path)

    assert str(caught.value).startswith(f"no tokenizer.json in {tmp_path}: ")


def test_transformers_can_wrap_it() -> None:
    # The training side wraps the tokenizer; this pins the special-token contract.
    from transformers import PreTrainedTokenizerFast

    tokenizer: Tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=300)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)

    assert (0, 0, 0) == (wrapped.eos_token_id, wrapped.bos_token_id, wrapped.pad_token_id)
    assert " café" == wrapped.decode(wrapped(" café")["input_ids"])
