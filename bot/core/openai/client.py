"""The OpenAI API as Trainbot uses it: files, fine-tuning jobs and chat completions.

One `AsyncOpenAI` client (the official one, no hand-made HTTP) with the `[openai]`
settings; at most `max_concurrency` requests at once. 429 and 5xx answers are retried
by the client itself (`max_retries`, with backoff, honouring `Retry-After`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

import openai

from bot.core.errors import Unavailable
from bot.core.openai.remote import ChatAnswer, ChatFailed, RemoteEvent, RemoteGeneration, RemoteJob
from trainer.data.formats import keyword_prefix

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.job_create_params import Method

    from bot.settings import OpenAISettings
    from storage.registry import ModelRow
    from trainer.spec import GenerateParams

EVENT_PAGE = 100
METADATA_KEY = "trainbot_job"  # the Trainbot job id, stored with the job at OpenAI
# Errors worth another try at the next poll: the client already retried them.
TRANSIENT_ERRORS = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


def api_message(exc: openai.APIError) -> str:
    """The API's own error message (not the client's `Error code: …` wrapper)."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


class OpenAIClient:
    """Thin async calls over the official client; every method is one API operation."""

    def __init__(self, settings: OpenAISettings) -> None:
        assert settings.api_key is not None
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url,
            organization=settings.organization,
            timeout=settings.request_timeout_s,
            max_retries=settings.max_retries,
        )
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self.chat_model = settings.chat_model

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.close()

    async def upload(self, filename: str, data: bytes) -> str:
        """Upload a training file (purpose `fine-tune`); returns its file id."""
        async with self._limit:
            uploaded = await self.client.files.create(file=(filename, data), purpose="fine-tune")
        return uploaded.id

    async def create_job(
        self,
        *,
        model: str,
        training_file: str,
        hyperparameters: dict[str, Any],
        suffix: str | None,
        seed: int | None,
        trainbot_job: str | None = None,
    ) -> RemoteJob:
        """Start supervised fine-tuning of `model` on an uploaded file.

        `trainbot_job` is stored as the job's metadata, so `find_job` can find it again
        when the service died before it saved the remote id.
        """
        options: dict[str, Any] = {}
        if trainbot_job:
            options["metadata"] = {METADATA_KEY: trainbot_job}
        if suffix:
            options["suffix"] = suffix
        if seed is not None:
            options["seed"] = seed
        supervised = {"hyperparameters": hyperparameters}  # checked by `openai.options`
        method = cast("Method", {"type": "supervised", "supervised": supervised})
        async with self._limit:
            job = await self.client.fine_tuning.jobs.create(
                model=model, training_file=training_file, method=method, **options
            )
        return _remote_job(job)

    async def find_job(self, trainbot_job: str) -> RemoteJob | None:
        """The job created for a Trainbot job (by its metadata), if there is one."""
        async with self._limit:
            page = await self.client.fine_tuning.jobs.list(
                metadata={METADATA_KEY: trainbot_job}, limit=10
            )
        for job in page.data:
            if (job.metadata or {}).get(METADATA_KEY) == trainbot_job:
                return _remote_job(job)
        return None

    async def job(self, remote_id: str) -> RemoteJob:
        """The job's current status."""
        async with self._limit:
            return _remote_job(await self.client.fine_tuning.jobs.retrieve(remote_id))

    async def events_since(self, remote_id: str, last_id: str | None) -> list[RemoteEvent]:
        """Events newer than `last_id`, oldest first.

        The API lists events newest first and `after` pages towards older ones, so this
        reads pages until it meets `last_id` (or the first event) and reverses them.
        """
        newest_first: list[RemoteEvent] = []
        after: str | None = None
        while True:
            async with self._limit:
                page = await self.client.fine_tuning.jobs.list_events(
                    remote_id, limit=EVENT_PAGE, after=after or openai.omit
                )
            for event in page.data:
                if event.id == last_id:
                    return newest_first[::-1]
                newest_first.append(_remote_event(event))
            if not page.data or not page.has_more:
                return newest_first[::-1]
            after = page.data[-1].id

    async def cancel(self, remote_id: str) -> RemoteJob:
        """Cancel the job at the API."""
        async with self._limit:
            return _remote_job(await self.client.fine_tuning.jobs.cancel(remote_id))

    async def pause(self, remote_id: str) -> RemoteJob:
        """Pause a running job at the API."""
        async with self._limit:
            return _remote_job(await self.client.fine_tuning.jobs.pause(remote_id))

    async def resume(self, remote_id: str) -> RemoteJob:
        """Resume a paused job at the API."""
        async with self._limit:
            return _remote_job(await self.client.fine_tuning.jobs.resume(remote_id))

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_object: bool = False,
    ) -> ChatAnswer:
        """One completion of `chat_model`; at most `max_concurrency` run at once.

        429 and 5xx answers are retried by the client (`max_retries`, backoff honouring
        `Retry-After`); what still fails raises `ChatFailed` with the API's message.
        """
        options: dict[str, Any] = {}
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        if temperature is not None:
            options["temperature"] = temperature
        if json_object:
            options["response_format"] = {"type": "json_object"}
        try:
            async with self._limit:
                reply = await self.client.chat.completions.create(
                    model=self.chat_model,
                    messages=messages,  # type: ignore[arg-type]
                    **options,
                )
        except openai.APIStatusError as exc:
            raise ChatFailed(api_message(exc), exc.status_code) from None
        except openai.APIError as exc:
            raise ChatFailed(api_message(exc)) from None
        usage = reply.usage
        choice = reply.choices[0] if reply.choices else None
        return ChatAnswer(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason if choice else None,
        )

    async def generate(
        self, model: ModelRow, prompt: str, params: GenerateParams
    ) -> RemoteGeneration:
        """A chat completion from a fine-tuned model; the prompt is the user message.

        With keywords the user message is the keyword line, as in the training rows
        (`trainer.openai_format`), followed by the prompt if there is one.
        """
        content = prompt
        if params.keywords:
            line = keyword_prefix(params.keywords).rstrip("\n")
            content = f"{line}\n{prompt}" if prompt.strip() else line
        options: dict[str, Any] = {"seed": params.seed} if params.seed is not None else {}
        if params.stop:
            options["stop"] = list(params.stop)
        started = time.monotonic()
        try:
            async with self._limit:
                reply = await self.client.chat.completions.create(
                    model=model.remote_id or model.name,
                    messages=[{"role": "user", "content": content}],
                    max_tokens=params.max_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    **options,
                )
        except openai.APIError as exc:
            raise Unavailable(
                f"OpenAI could not generate with {model.label}: {api_message(exc)}"
            ) from None
        usage = reply.usage
        return RemoteGeneration(
            text=(reply.choices[0].message.content or "") if reply.choices else "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.monotonic() - started,
        )


def _remote_job(job: FineTuningJob) -> RemoteJob:
    error = getattr(job, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    return RemoteJob(
        id=job.id,
        status=str(job.status),
        fine_tuned_model=job.fine_tuned_model,
        error=message,
        trained_tokens=job.trained_tokens,
    )


def _remote_event(event: FineTuningJobEvent) -> RemoteEvent:
    data = event.data if isinstance(event.data, dict) else {}
    return RemoteEvent(
        id=event.id,
        level=event.level,
        message=event.message,
        type=event.type or "message",
        data=data,
    )
