"""Tokenize examples and pack them into fixed-length blocks with prompt masking.

Every example becomes token ids plus a "trained" flag per token, followed by EOS. The
stream of examples is cut into `block_size` blocks, so no batch carries padding except
the last, partly filled block. Tokens that are not trained (prompts, user turns, the
keyword prefix) get the label -100, which the loss ignores.

Each block also carries position ids that restart at 0 where an example (or the part of
it in this block) starts. Given position ids and no attention mask, transformers' mask
builder (`masking_utils.find_packed_sequence_indices`) makes the causal mask block
diagonal, so a packed example attends only to itself; `train.packing_separates`
checks that a model honours it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from trainer.data import Example

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids of one example and, per token, whether the loss trains on it."""

    ids: list[int]
    trained: list[bool]


@dataclass
class PackedBlocks:
    """Equal-length training blocks; `labels` is -100 where a token is not trained."""

    block_size: int
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    position_ids: list[list[int]] = field(default_factory=list)  # 0 where an example starts
    useful_tokens: int = 0  # real (non-padding) tokens

    @property
    def total_tokens(self) -> int:
        """Tokens fed to the model, padding included."""
        return len(self.input_ids) * self.block_size

    @property
    def useful_fraction(self) -> float:
        """Share of fed tokens that are real data rather than padding."""
        return self.useful_tokens / self.total_tokens if self.total_tokens else 0.0

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize_examples(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase
) -> list[TokenizedExample]:
    """Token ids and trained flags per example (Example objects from trainer.data)."""
    if getattr(tokenizer, "chat_template", None):
        chat = [e for e in examples if e.messages]
        if chat:
            rendered = {id(e): _tokenize_chat(e.messages, tokenizer) for e in chat}
            return [rendered.get(id(e)) or _tokenize_segments([e], tokenizer)[0] for e in examples]
    return _tokenize_segments(examples, tokenizer)


def _tokenize_segments(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase
) -> list[TokenizedExample]:
    # One batched call for all segments: the fast tokenizer parallelises it in Rust.
    texts = [text for e in examples for text, _ in e.segments]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    out: list[TokenizedExample] = []
    position = 0
    for example in examples:
        ids: list[int] = []
        trained: list[bool] = []
        for _text, is_trained in example.segments:
            piece = encoded[position]
            position += 1
            ids.extend(piece)
            trained.extend([is_trained] * len(piece))
        out.append(TokenizedExample(ids=ids, trained=trained))
    return out


def _tokenize_chat(
    messages: Sequence[dict[str, Any]], tokenizer: PreTrainedTokenizerBase
) -> TokenizedExample:
    """Render with the tokenizer's chat template; train only assistant turns (weight 1).

    A trained span is what the template adds for an assistant message after its own
    generation prompt (the `<|im_start|>assistant` header is the prompt, not the answer),
    up to the end-of-turn token, without trailing whitespace.
    """
    conversation = list(messages)
    text = str(tokenizer.apply_chat_template(conversation, tokenize=False)).rstrip()
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(conversation):
        if message.get("role") != "assistant" or message.get("weight", 1) != 1:
            continue
        # The template renders a prefix of the conversation as a prefix of the text.
        prompt = str(
            tokenizer.apply_chat_template(
                conversation[:i], tokenize=False, add_generation_prompt=True
            )
        )
        current = str(tokenizer.apply_chat_template(conversation[: i + 1], tokenize=False))
        start = len(prompt) if current.startswith(prompt) else 0
        spans.append((start, len(current.rstrip())))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    trained = [any(s <= a and b <= e for s, e in spans) for a, b in encoding["offset_mapping"]]
    if ids and ids[-1] == tokenizer.eos_token_id:
        # `pack` puts the end-of-text after every example; the template's own one
        # (a ChatML end of turn that is also the EOS) would be doubled.
        ids.pop()
        trained.pop()
    return TokenizedExample(ids=ids, trained=trained)


def pack(
    examples: Iterable[TokenizedExample], block_size: int, eos_id: int, pad_id: int
) -> PackedBlocks:
    """Concatenate examples (each followed by EOS) and cut into `block_size` blocks.

    The EOS after an example is trained when any of its tokens is, so the model learns
    to end a completion. Blocks without a single trained label are dropped: they would
    only cost time (and an all-ignored batch has an undefined loss).
    """
    blocks = PackedBlocks(block_size=block_size)
    ids: list[int] = []
    labels: list[int] = []
    starts: list[bool] = []  # where an example begins
    for example in examples:
        for token, trained in zip(example.ids, example.trained, strict=True):
            ids.append(token)
            labels.append(token if trained else IGNORE_INDEX)
        ids.append(eos_id)
        labels.append(eos_id if any(example.trained) else IGNORE_INDEX)
        starts.extend([True] + [False] * (len(example.ids)))
        while len(ids) >= block_size:
            positions = _positions(starts[:block_size])
            _add_block(blocks, ids[:block_size], labels[:block_size], positions, block_size)
            del ids[:block_size], labels[:block_size], starts[:block_size]
    if ids:
        padding = block_size - len(ids)
        # Padding continues the last example's positions: it is never trained on and,
        # being last, nothing real attends to it.
        positions = _positions(starts + [False] * padding)
        _add_block(
            blocks, ids + [pad_id] * padding, labels + [IGNORE_INDEX] * padding, positions, len(ids)
        )
    return blocks


def _positions(starts: list[bool]) -> list[int]:
    """0 at each example start (and at the block start: an example cut by the previous
    block cannot see its beginning, so it is numbered from what it sees), else +1."""
    positions: list[int] = []
    for i, start in enumerate(starts):
        positions.append(0 if start or i == 0 else positions[-1] + 1)
    return positions


def _add_block(
    blocks: PackedBlocks, ids: list[int], labels: list[int], positions: list[int], useful: int
) -> None:
    if all(label == IGNORE_INDEX for label in labels[1:]):
        return  # the first label is never predicted (nothing precedes it)
    blocks.input_ids.append(ids)
    blocks.labels.append(labels)
    blocks.position_ids.append(positions)
    blocks.useful_tokens += useful
