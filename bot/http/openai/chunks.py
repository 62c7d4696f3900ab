"""OpenAI's response and stream-chunk shapes for chat and text completions."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.http.openai.answer import Answer, Usage

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Frame:
    """What every chunk of one answer shares."""

    id: str
    kind: str  # "chat" or "text"
    model: str
    created: int

    @classmethod
    def new(cls, kind: str, model: str) -> Frame:
        """A fresh answer id (`chatcmpl-…` / `cmpl-…`) stamped now."""
        prefix = "chatcmpl-" if kind == "chat" else "cmpl-"
        return cls(prefix + secrets.token_hex(12), kind, model, int(time.time()))

    @property
    def object(self) -> str:
        """The object name of a whole answer."""
        return "chat.completion" if self.kind == "chat" else "text_completion"


def whole(frame: Frame, answer: Answer) -> dict[str, Any]:
    """A complete answer."""
    choices = [
        _choice(frame, index, text, ended) for index, (text, ended) in enumerate(answer.choices)
    ]
    return {**_head(frame, frame.object), "choices": choices, "usage": usage(answer)}


def piece(
    frame: Frame, index: int, text: str | None, ended: str | None, *, role: bool = False
) -> dict[str, Any]:
    """One stream chunk for choice `index`: new text, or its finish reason."""
    if frame.kind == "chat":
        delta: dict[str, Any] = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        choice = {"index": index, "delta": delta, "finish_reason": ended, "logprobs": None}
        return {**_head(frame, "chat.completion.chunk"), "choices": [choice]}
    choice = {"index": index, "text": text or "", "finish_reason": ended, "logprobs": None}
    return {**_head(frame, "text_completion"), "choices": [choice]}


def usage_chunk(frame: Frame, spent: Usage) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` asks for it: no choices, usage."""
    kind = "chat.completion.chunk" if frame.kind == "chat" else "text_completion"
    return {**_head(frame, kind), "choices": [], "usage": usage(spent)}


def usage(spent: Answer | Usage) -> dict[str, int]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": spent.prompt_tokens,
        "completion_tokens": spent.completion_tokens,
        "total_tokens": spent.prompt_tokens + spent.completion_tokens,
    }


def sse(data: dict[str, Any]) -> bytes:
    """One `data:` line of the stream."""
    return (
        b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    )


def _head(frame: Frame, kind: str) -> dict[str, Any]:
    return {
        "id": frame.id,
        "object": kind,
        "created": frame.created,
        "model": frame.model,
        "system_fingerprint": None,
    }


def _choice(frame: Frame, index: int, text: str, ended: str) -> dict[str, Any]:
    if frame.kind == "chat":
        message = {"role": "assistant", "content": text, "refusal": None}
        return {"index": index, "message": message, "finish_reason": ended, "logprobs": None}
    return {"index": index, "text": text, "finish_reason": ended, "logprobs": None}
