"""What Trainbot reads of the OpenAI API, without the client library.

The `openai` package costs about 0.7 s to import. These plain types are all that data
preparation, event mirroring and schedules need to name, so a service without an API key
never imports it; only `client.py` (built when a key is set) does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RemoteJob:
    """What Trainbot reads of a fine-tuning job at the API."""

    id: str
    status: str
    fine_tuned_model: str | None = None
    error: str | None = None
    trained_tokens: int | None = None


@dataclass(frozen=True)
class RemoteEvent:
    """One fine-tuning event: a message, or metrics (`type == "metrics"`)."""

    id: str
    level: str
    message: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteGeneration:
    """A chat completion in the shape `GenerationService` expects of any backend."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


@dataclass(frozen=True)
class ChatAnswer:
    """One chat completion of the configured chat model, with its token usage."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


class ChatFailed(Exception):
    """A chat request failed after the client's retries; `str()` is the API's message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
