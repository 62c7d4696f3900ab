"""OpenAI's response shapes, for the OpenAPI document (the handlers build plain dicts).

Only the fields every client reads are declared; others may follow (`extra="allow"`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class OpenAIOut(BaseModel):
    """A response object; undeclared fields may follow."""

    model_config = ConfigDict(extra="allow")


class OpenAIFileOut(OpenAIOut):
    """`file`: a dataset version."""

    id: str
    object: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str


class OpenAIDeletedOut(OpenAIOut):
    """A deleted file or model."""

    id: str
    object: str
    deleted: bool


class OpenAIJobOut(OpenAIOut):
    """`fine_tuning.job`."""

    id: str
    object: str
    created_at: int
    finished_at: int | None
    model: str
    fine_tuned_model: str | None
    status: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    seed: int
    trained_tokens: int | None
    estimated_finish: int | None
    error: dict[str, Any] | None
    metadata: dict[str, str] | None
    result_files: list[str]


class OpenAIListOut(OpenAIOut):
    """`list`: a page of objects."""

    object: str
    data: list[dict[str, Any]]
    has_more: bool


class OpenAIModelOut(OpenAIOut):
    """`model`: a base preset or a registered version."""

    id: str
    object: str
    created: int
    owned_by: str


class OpenAICompletionOut(OpenAIOut):
    """`chat.completion` or `text_completion` (as `text/event-stream` chunks when streamed)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int]
