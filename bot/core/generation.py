"""Text generation with a named model or the default one; every answer is saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import Invalid, TooMany, Unavailable
from bot.core.models import ModelService
from storage.predictions import PredictionRow
from storage.registry import ModelRow
from storage.store import Store
from trainer.spec import GenerationRequest


@dataclass(frozen=True)
class GenerateParams:
    """What a caller may set; defaults suit a quick look at a tiny model."""

    max_tokens: int = 64
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    keywords: tuple[str, ...] = field(default_factory=tuple)


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
        worker: Any,
        *,
        max_concurrent: int,
        max_new_tokens: int,
        remote: Any = None,
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
        if not 1 <= params.max_tokens <= self.max_new_tokens:
            raise Invalid(f"max_tokens must be between 1 and {self.max_new_tokens}")
        if not 0 <= params.temperature <= 5:
            raise Invalid("temperature must be between 0 and 5")
        if not 0 < params.top_p <= 1:
            raise Invalid("top_p must be above 0 and at most 1")
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
            params=_params_dict(params),
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

    async def _run(self, model: ModelRow, prompt: str, params: GenerateParams) -> Any:
        if model.backend != "local":
            if self.remote is None:
                raise Invalid(f"{model.label} runs at OpenAI; configure [openai] to use it")
            return await self.remote.generate(model, prompt, params)
        from trainer.generation import GenerationError

        request = GenerationRequest(
            model_dir=model.path,
            prompt=prompt,
            max_new_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            repetition_penalty=params.repetition_penalty,
            seed=params.seed,
            stop=tuple(params.stop),
            keywords=tuple(params.keywords),
        )
        try:
            return await self.worker.generate(request)
        except GenerationError as exc:
            raise Unavailable(f"generation failed: {exc}") from None

    async def predictions(
        self, model: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[PredictionRow]:
        """Saved generations, newest first."""
        model_id = (await self.models.resolve(model)).id if model else None
        return await self.store.predictions.find(model_id=model_id, limit=limit, before=before)


def _params_dict(params: GenerateParams) -> dict[str, Any]:
    return {
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "repetition_penalty": params.repetition_penalty,
        "seed": params.seed,
        "stop": list(params.stop),
        "keywords": list(params.keywords),
    }
