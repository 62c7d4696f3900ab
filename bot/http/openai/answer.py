"""Generation for the completion routes: whole answers, or pieces as they are written.

The one place that talks to `GenerationService` for this face. A chat is sent as its
messages: the worker renders them with the model's chat template (or the plain template
the chat datasets are trained with) and stops at the end of the assistant's turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from bot.core.generation import Generation
from bot.http.routing import Call
from storage.registry import ModelRow
from trainer.spec import ChatMessage, FinishReason, GenerateParams, Piece


@dataclass(frozen=True)
class Asked:
    """One generation request: the prompt (or conversation), parameters and choices."""

    model: ModelRow
    prompt: str
    params: GenerateParams
    n: int = 1
    messages: tuple[ChatMessage, ...] | None = None


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
    done = await call.services.generation.generate(
        asked.prompt,
        model=asked.model,
        params=asked.params,
        requested_by=call.client,
        messages=asked.messages,
        n=asked.n,
    )
    choices = tuple((choice.text, choice.finish_reason) for choice in done.choices)
    return Answer(choices, done.prompt_tokens, done.completion_tokens)


async def stream(call: Call, asked: Asked) -> AsyncGenerator[Piece | Usage]:
    """Pieces of every choice as they are written, then the usage.

    Closing this generator closes the service's stream, which cancels the generation
    in the worker.
    """
    pieces = call.services.generation.stream(
        asked.prompt,
        model=asked.model,
        params=asked.params,
        requested_by=call.client,
        messages=asked.messages,
        n=asked.n,
    )
    try:
        async for item in pieces:
            if isinstance(item, Generation):
                yield Usage(item.prompt_tokens, item.completion_tokens)
            else:
                yield item
    finally:
        await pieces.aclose()  # stops the generation in the worker when it is not done
