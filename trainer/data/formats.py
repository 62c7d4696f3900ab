"""The plain templates: how each dataset format becomes text the model is trained on.

Every example is a sequence of `(text, trained)` segments; the training side computes the
loss only on tokens of trained segments and puts one `<|endoftext|>` after each example.
Generation must build its prompt with the same template, so the helpers here
(`keyword_prefix`, `completion_prompt`, `chat_prompt`) are public.

text
    `{"text": "…"}`, or a paragraph of a `.txt` file: one segment, trained.

completion
    `{"prompt": "…", "completion": "…"}`: the prompt (not trained), then the completion
    (trained). When the prompt does not already end in whitespace a newline is put after
    it (`COMPLETION_SEPARATOR`), so `"Q: 2+2?"` + `"4"` becomes `"Q: 2+2?\\n4"` while
    `"Answer: "` + `"yes"` stays `"Answer: yes"`.

keywords
    `{"keywords": ["boat", "dog"], "text": "…"}`: the prefix `"Keywords: boat, dog\\n"`
    (not trained), then the text (trained). Whitespace inside a keyword is collapsed to
    single spaces so a keyword cannot break the prefix line.

chat (plain template, used when the tokenizer has no chat template of its own)
    ChatML-style markers, one block per message::

        <|im_start|>system
        You are terse.<|im_end|>
        <|im_start|>user
        Hi<|im_end|>
        <|im_start|>assistant
        Hello.<|im_end|>

    Each block is `"<|im_start|>{role}\\n{content}<|im_end|>\\n"`. For an assistant
    message with weight 1, `"{content}<|im_end|>"` is trained, so the model learns to
    close its turn; headers, the newline after each block, and every other message are
    not trained. To generate, render the history and open an assistant block
    (`chat_prompt`), then stop at `CHAT_STOP` (`"<|im_end|>"`). The markers are plain
    text to GPT-2 tokenizers (several tokens each), not special tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COMPLETION_SEPARATOR = "\n"
KEYWORDS_LABEL = "Keywords: "
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant")
CHAT_START = "<|im_start|>"
CHAT_STOP = "<|im_end|>"

Segments = tuple[tuple[str, bool], ...]


def keyword_prefix(keywords: Sequence[str]) -> str:
    """The untrained prefix of a keywords example; generation starts from it too."""
    cleaned = (" ".join(keyword.split()) for keyword in keywords)
    return KEYWORDS_LABEL + ", ".join(keyword for keyword in cleaned if keyword) + "\n"


def completion_prompt(prompt: str) -> str:
    """The prompt as trained in a completion example (with its separator if needed)."""
    if prompt[-1:].isspace():
        return prompt
    return prompt + COMPLETION_SEPARATOR


def chat_prompt(messages: Iterable[Mapping[str, Any]]) -> str:
    """The plain-template history plus an open assistant block, for generation."""
    rendered = "".join(text for text, _ in chat_segments(messages))
    return rendered + f"{CHAT_START}assistant\n"


def text_segments(text: str) -> Segments:
    """A text example: everything trained."""
    return ((text, True),)


def completion_segments(prompt: str, completion: str) -> Segments:
    """A completion example: the prompt is context, the completion is learned."""
    return ((completion_prompt(prompt), False), (completion, True))


def keywords_segments(keywords: Sequence[str], text: str) -> Segments:
    """A keywords example: the keyword prefix is context, the text is learned."""
    return ((keyword_prefix(keywords), False), (text, True))


def chat_segments(messages: Iterable[Mapping[str, Any]]) -> Segments:
    """A chat conversation in the plain template (see the module docstring)."""
    pieces: list[tuple[str, bool]] = []
    for message in messages:
        role = str(message["role"])
        trained = role == "assistant" and message.get("weight", 1) == 1
        pieces.append((f"{CHAT_START}{role}\n", False))
        pieces.append((f"{message['content']}{CHAT_STOP}", trained))
        pieces.append(("\n", False))
    return merge_segments(pieces)


def merge_segments(pieces: Iterable[tuple[str, bool]]) -> Segments:
    """Join neighbouring pieces with the same flag and drop empty ones.

    Fewer boundaries mean the training side tokenizes longer runs at once, which keeps
    token counts close to tokenizing the whole text.
    """
    merged: list[tuple[str, bool]] = []
    for text, trained in pieces:
        if not text:
            continue
        if merged and merged[-1][1] == trained:
            merged[-1] = (merged[-1][0] + text, trained)
        else:
            merged.append((text, trained))
    return tuple(merged)
