"""Text generation with a named model or the default one; every answer is saved.

The parameters are `trainer.spec.GenerateParams` (declared once, with their limits);
this service is the one place that checks them, `max_tokens` against the
`trainer.max_new_tokens` setting included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.chat import Conversations
from bot.core.errors import Invalid, TooMany, Unavailable
from bot.core.models import ModelService
from storage.predictions import PredictionRow
from storage.registry import ModelRow
from storage.store import Store
from trainer.data.formats import CHAT_ROLES
from trainer.spec import (
    ChatMessage,
    Choice,
    GenerateParams,
    GenerationRequest,
    GenerationResult,
    Limit,
    Piece,
)

MAX_CHOICES = 8  # n= answers per request at most


class Completion(Protocol):
    """What any generator answers: the text and what it cost."""

    @property
    def text(self) -> str: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def latency_s(self) -> float: ...


class Generator(Protocol):
    """Generates with a local model folder: the generation worker process (`trainer`)."""

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """The continuation; raises `GenerationError` when the worker fails."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncGenerator[Piece | GenerationResult]:
        """Pieces as they are written, then the result; leaving early cancels the work."""
        ...


class RemoteGenerator(Protocol):
    """Generates with a model hosted elsewhere (the OpenAI client, `bot.core.openai`)."""

    async def generate(self, model: ModelRow, prompt: str, params: GenerateParams) -> Completion:
        """The continuation by the remote `model`."""
        ...


@dataclass(frozen=True)
class Generation:
    """A generated text with the model that wrote it and the saved prediction.

    `text` is the first of `choices`; `completion_tokens` counts every choice.
    `dropped_messages` is how many of the oldest turns of a conversation did not fit in
    the model's context and were left out.
    """

    text: str
    model: ModelRow
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    prediction: PredictionRow
    choices: tuple[Choice, ...] = ()
    dropped_messages: int = 0


class GenerationService:
    """Routes generation to the local worker (or a remote backend) within limits."""

    def __init__(
        self,
        store: Store,
        models: ModelService,
        worker: Generator,
        *,
        max_concurrent: int,
        max_new_tokens: int,
        remote: RemoteGenerator | None = None,
    ) -> None:
        self.store = store
        self.models = models
        self.worker = worker
        self.remote = remote
        self.max_concurrent = max_concurrent
        self.max_new_tokens = max_new_tokens
        self.in_flight = 0
        self.conversations = Conversations()  # the room's `!chat` threads

    async def generate(
        self,
        prompt: str,
        *,
        model: str | ModelRow | None,
        params: GenerateParams,
        requested_by: str,
        messages: Sequence[Mapping[str, object]] | None = None,
        n: int = 1,
    ) -> Generation:
        """Generate a continuation of `prompt` (or the answer to `messages`, a chat).

        `model` is a reference, a row the caller resolved already, or None (the default).
        `n` answers are sampled for the one prompt. 429 when too many run at once.
        """
        chosen, request = await self._prepare(prompt, model, params, messages, n)
        with self._slot():
            result = await self._run(chosen, request)
        return await self._save(chosen, request, result, requested_by)

    async def stream(
        self,
        prompt: str,
        *,
        model: str | ModelRow | None,
        params: GenerateParams,
        requested_by: str,
        messages: Sequence[Mapping[str, object]] | None = None,
        n: int = 1,
    ) -> AsyncGenerator[Piece | Generation]:
        """The answer as it is written: `Piece`s, then the saved `Generation` (usage).

        Checks run before the first piece, so a refusal raises on the first `__anext__`.
        Leaving the iterator early (`aclose()`, a client gone) cancels the generation in
        the worker; nothing is saved then.
        """
        chosen, request = await self._prepare(prompt, model, params, messages, n)
        with self._slot():
            if chosen.backend != "local":
                result = await self._run(chosen, request)
                for index, choice in enumerate(result.choices):
                    yield Piece(index, choice.text, choice.finish_reason)
            else:
                from trainer.workers.generation import GenerationError

                try:
                    async with contextlib.aclosing(self.worker.stream(request)) as events:
                        async for event in events:
                            if isinstance(event, GenerationResult):
                                result = event
                            else:
                                yield event
                except GenerationError as exc:
                    raise Unavailable(f"generation failed: {exc}") from None
        yield await self._save(chosen, request, result, requested_by)

    async def _prepare(
        self,
        prompt: str,
        model: str | ModelRow | None,
        params: GenerateParams,
        messages: Sequence[Mapping[str, object]] | None,
        n: int,
    ) -> tuple[ModelRow, GenerationRequest]:
        chat = check_messages(messages) if messages is not None else None
        if chat is None and not prompt.strip() and not params.keywords:
            raise Invalid("give a prompt (or keywords) to continue")
        check_params(params, self.max_new_tokens)
        if not 1 <= n <= MAX_CHOICES:
            raise Invalid(f"n must be between 1 and {MAX_CHOICES}")
        if isinstance(model, ModelRow):  # resolved by the caller: no second registry read
            chosen = model
        else:
            chosen = await (self.models.resolve(model) if model else self.models.default())
        if chosen.is_adapter:  # switched onto its base, which stays loaded (hot-swap)
            request = GenerationRequest(
                chosen.base_path, prompt, params, chat, n, adapter_dir=chosen.path
            )
        else:
            request = GenerationRequest(chosen.path, prompt, params, chat, n)
        return chosen, request

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self.in_flight >= self.max_concurrent:
            raise TooMany("too many generations at once; try again in a moment", retry_after=2)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def _save(
        self,
        model: ModelRow,
        request: GenerationRequest,
        result: GenerationResult,
        requested_by: str,
    ) -> Generation:
        # A chat is saved as its JSON messages: the prompt column holds what was asked.
        asked = json.dumps(request.messages) if request.messages is not None else request.prompt
        saved = await self.store.predictions.add(
            model_id=model.id,
            prompt=asked,
            params={**request.params.to_dict(), "n": request.n},
            output=result.text,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_s=result.latency_s,
            requested_by=requested_by,
        )
        return Generation(
            result.text,
            model,
            result.prompt_tokens,
            result.completion_tokens,
            result.latency_s,
            saved,
            result.choices or (Choice(result.text, "stop"),),
            result.dropped_messages,
        )

    async def _run(self, model: ModelRow, request: GenerationRequest) -> GenerationResult:
        if model.backend != "local":
            return await self._run_remote(model, request)
        from trainer.workers.generation import GenerationError

        try:
            return await self.worker.generate(request)
        except GenerationError as exc:
            raise Unavailable(f"generation failed: {exc}") from None

    async def _run_remote(self, model: ModelRow, request: GenerationRequest) -> GenerationResult:
        if self.remote is None:
            raise Invalid(f"{model.label} runs at OpenAI; configure [openai] to use it")
        if request.messages is not None or request.n != 1:
            raise Invalid(f"{model.label} runs at OpenAI: chat messages and n= are local only")
        done = await self.remote.generate(model, request.prompt, request.params)
        choices = (Choice(done.text, "stop"),)
        usage = (done.prompt_tokens, done.completion_tokens, done.latency_s)
        return GenerationResult(done.text, *usage, choices)

    async def predictions(
        self, model: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[PredictionRow]:
        """Saved generations, newest first."""
        model_id = (await self.models.resolve(model)).id if model else None
        return await self.store.predictions.find(model_id=model_id, limit=limit, before=before)


def check_messages(messages: Sequence[Mapping[str, object]]) -> tuple[ChatMessage, ...]:
    """A conversation as role/content pairs; refuse unknown roles and empty ones."""
    if not messages:
        raise Invalid("give at least one message")
    checked: list[ChatMessage] = []
    for number, message in enumerate(messages, start=1):
        role, content = message.get("role"), message.get("content")
        if role not in CHAT_ROLES:
            raise Invalid(f"message {number}: role must be one of {', '.join(CHAT_ROLES)}")
        if not isinstance(content, str):
            raise Invalid(f"message {number}: content must be text")
        checked.append({"role": str(role), "content": content})
    if checked[-1]["role"] == "assistant":
        raise Invalid("the last message must be the user's (or the system's), not the assistant's")
    return tuple(checked)


def check_params(params: GenerateParams, max_new_tokens: int | None = None) -> None:
    """Refuse a parameter outside its declared `Limit`; `max_tokens` also above the cap."""
    for name, limit in GenerateParams.limits().items():
        value = getattr(params, name)
        if name == "max_tokens" and limit.high is not None and max_new_tokens is not None:
            limit = dataclasses.replace(limit, high=min(limit.high, max_new_tokens))
        if isinstance(value, tuple):
            if limit.high is not None and len(value) > limit.high:
                raise Invalid(f"{name} takes at most {limit.high} values")
        elif value is not None and not _within(value, limit):
            raise Invalid(f"{name} must be {_range(limit)}")


def _within(value: float, limit: Limit) -> bool:
    above = limit.low is None or (value > limit.low if limit.low_open else value >= limit.low)
    return above and (limit.high is None or value <= limit.high)


def _range(limit: Limit) -> str:
    if limit.low_open:
        return f"above {limit.low} and at most {limit.high}"
    return f"between {limit.low} and {limit.high}"
