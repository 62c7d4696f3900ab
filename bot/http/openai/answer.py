"""Generation for the completion routes: whole answers, or pieces as they are written.

The one place that talks to `GenerationService` for this face, so the routes read the
same whether an answer comes whole or streamed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from bot.http.routing import Call
from storage.registry import ModelRow
from trainer.spec import FinishReason, GenerateParams, Piece


@dataclass(frozen=True)
class Asked:
    """One generation request: the prompt (or conversation), parameters and choices."""

    model: ModelRow
    prompt: str
    params: GenerateParams
    n: int = 1
    messages: tuple[dict[str, str], ...] | None = None


@dataclass(frozen=True)
class Answer:
    """Every choice's text and finish reason, and the tokens read and written."""

    choices: tuple[tuple[str, FinishReason], ...]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Usage:
    """The last item of a stream: what the whole answer cost."""

    prompt_tokens: int
    completion_tokens: int


async def answer(call: Call, asked: Asked) -> Answer:
    """Generate every choice, whole."""
    choices: list[tuple[str, FinishReason]] = []
    prompt_tokens = completion_tokens = 0
    for index in range(asked.n):
        result = await call.services.generation.generate(
            asked.prompt,
            model=asked.model.id,
            params=_choice_params(asked.params, index),
            requested_by=call.client,
        )
        ended: FinishReason = (
            "length" if result.completion_tokens >= asked.params.max_tokens else "stop"
        )
        choices.append((result.text, ended))
        prompt_tokens = result.prompt_tokens
        completion_tokens += result.completion_tokens
    return Answer(tuple(choices), prompt_tokens, completion_tokens)


async def stream(call: Call, asked: Asked) -> AsyncGenerator[Piece | Usage]:
    """Pieces of every choice as they are written, then the usage."""
    whole = await answer(call, asked)
    for index, (text, ended) in enumerate(whole.choices):
        yield Piece(index, text, ended)
    yield Usage(whole.prompt_tokens, whole.completion_tokens)


def _choice_params(params: GenerateParams, index: int) -> GenerateParams:
    # A fixed seed would give n identical choices: each choice gets its own, repeatably.
    if params.seed is None or index == 0:
        return params
    return dataclasses.replace(params, seed=(params.seed + index) % 2**32)
