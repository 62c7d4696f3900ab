"""Byte-level BPE tokenizers with the `tokenizers` library only (no transformers here).

A tokenizer trained here follows the GPT-2 convention: one special token,
`<|endoftext|>` with id 0, used as end-of-text, beginning-of-text and unknown token
(byte-level BPE never needs an unknown token) and as padding when padding is needed.
Wrap it for transformers with
`PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

EOS_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS: dict[str, str] = {
    "eos_token": EOS_TOKEN,
    "bos_token": EOS_TOKEN,
    "unk_token": EOS_TOKEN,
    "pad_token": EOS_TOKEN,
}
TOKENIZER_FILE = "tokenizer.json"
# 256 byte symbols plus the special token: a smaller vocabulary cannot hold every byte.
MIN_VOCAB_SIZE = 257


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 8000) -> Tokenizer:
    """Train a byte-level BPE tokenizer on `texts`; the same texts give the same tokenizer.

    The vocabulary holds `<|endoftext|>` (id 0), all 256 byte symbols, then merges up to
    `vocab_size` (fewer when the texts run out of pairs to merge).
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    # No prefix space, like GPT-2: the training side tokenizes segments separately, and
    # an added space would change the text.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_tokenizer_file(model_dir: str | Path) -> Tokenizer:
    """The fast tokenizer of a Hugging Face model folder (its `tokenizer.json`).

    A path to the `tokenizer.json` file itself is accepted too.
    """
    path = Path(model_dir)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no {TOKENIZER_FILE} in {model_dir}: the model folder needs a fast tokenizer "
            "(save it with a PreTrainedTokenizerFast, or use a model that ships one)"
        )
    return Tokenizer.from_file(str(path))


def eos_id(tokenizer: Tokenizer) -> int:
    """The id of `<|endoftext|>` in `tokenizer`; raises `ValueError` if it has none."""
    token_id = tokenizer.token_to_id(EOS_TOKEN)
    if token_id is None:
        raise ValueError(f"the tokenizer has no {EOS_TOKEN} token")
    return int(token_id)
