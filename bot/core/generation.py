"""Text generation with a named model or the default one; every answer is saved.

The parameters are `trainer.spec.GenerateParams` (declared once, with their limits);
this service is the one place that checks them, `max_tokens` against the
`trainer.max_new_tokens` setting included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from bot.core.errors import Invalid, TooMany, Unavailable
from bot.core.models import ModelService
from storage.predictions import PredictionRow
from storage.registry import ModelRow
from storage.store import Store
from trainer.spec import GenerateParams, GenerationRequest, GenerationResult, Limit


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


class RemoteGenerator(Protocol):
    """Generates with a model hosted elsewhere (the OpenAI client, `bot.core.openai`)."""

    async def generate(self, model: ModelRow, prompt: str, params: GenerateParams) -> Completion:
        """The continuation by the remote `model`."""
        ...


@dataclass(frozen=True)
class Generation:
    """A generated text with the model that wrote it and the saved prediction."""

    text: str
    model: ModelRow
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    prediction: PredictionRow


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

    async def generate(
        self, prompt: str, *, model: str | None, params: GenerateParams, requested_by: str
    ) -> Generation:
        """Generate a continuation of `prompt`; 429 when too many run at once."""
        if not prompt.strip() and not params.keywords:
            raise Invalid("give a prompt (or keywords) to continue")
        check_params(params, self.max_new_tokens)
        chosen = await (self.models.resolve(model) if model else self.models.default())
        if self.in_flight >= self.max_concurrent:
            raise TooMany("too many generations at once; try again in a moment", retry_after=2)
        self.in_flight += 1
        try:
            result = await self._run(chosen, prompt, params)
        finally:
            self.in_flight -= 1
        saved = await self.store.predictions.add(
            model_id=chosen.id,
            prompt=prompt,
            params=params.to_dict(),
            output=result.text,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_s=result.latency_s,
            requested_by=requested_by,
        )
        return Generation(
            result.text,
            chosen,
            result.prompt_tokens,
            result.completion_tokens,
            result.latency_s,
            saved,
        )

    async def _run(self, model: ModelRow, prompt: str, params: GenerateParams) -> Completion:
        if model.backend != "local":
            if self.remote is None:
                raise Invalid(f"{model.label} runs at OpenAI; configure [openai] to use it")
            return await self.remote.generate(model, prompt, params)
        from trainer.workers.generation import GenerationError

        try:
            return await self.worker.generate(GenerationRequest(model.path, prompt, params))
        except GenerationError as exc:
            raise Unavailable(f"generation failed: {exc}") from None

    async def predictions(
        self, model: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[PredictionRow]:
        """Saved generations, newest first."""
        model_id = (await self.models.resolve(model)).id if model else None
        return await self.store.predictions.find(model_id=model_id, limit=limit, before=before)


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
