"""OpenAI's request shapes, as pydantic models (published in the OpenAPI document).

Types are strict ("5" is not a number) but unknown keys are ignored: OpenAI clients send
fields Trainbot has no use for (`user`, `store`, `integrations`, …) and must still work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Auto = Literal["auto"]


class OpenAIBody(BaseModel):
    """A JSON body: strict types, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


class OpenAIForm(BaseModel):
    """A form or query string: values arrive as text; unknown names ignored."""

    model_config = ConfigDict(extra="ignore")


class OpenAIFileForm(OpenAIForm):
    """`POST /files`: the JSONL in field `file`, and its purpose."""

    purpose: str = Field(max_length=64, description="Must be 'fine-tune'.")


class OpenAIPage(OpenAIForm):
    """A page of a newest-first list."""

    limit: int = Field(20, ge=1, le=100, description="OpenAIPage size.")
    after: str | None = Field(None, max_length=100, description="Id of the previous page's last.")


class OpenAIJobPage(OpenAIPage):
    """`GET /fine_tuning/jobs`; `metadata[key]=value` filters (extra names) are read too."""

    model_config = ConfigDict(extra="allow")


class OpenAIHyperparameters(OpenAIBody):
    """OpenAI's hyperparameters: each a number or "auto" (Trainbot's default)."""

    n_epochs: Auto | Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description="Epochs."
    )
    batch_size: Auto | Annotated[int, Field(ge=1, le=4096)] | None = Field(
        None, description="Batch size."
    )
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=100)] | None = Field(
        None, description="Times Trainbot's default learning rate."
    )


class OpenAIDpoHyperparameters(OpenAIHyperparameters):
    """DPO adds beta."""

    beta: Auto | Annotated[float, Field(gt=0, le=10)] | None = Field(
        None, description="DPO's beta."
    )


class OpenAISupervised(OpenAIBody):
    """`method.supervised`."""

    hyperparameters: OpenAIHyperparameters | None = None


class OpenAIDpo(OpenAIBody):
    """`method.dpo`."""

    hyperparameters: OpenAIDpoHyperparameters | None = None


class OpenAIMethod(OpenAIBody):
    """How to train; `lora` (a Trainbot extension) trains an adapter instead of all weights."""

    type: Literal["supervised", "dpo"]
    supervised: OpenAISupervised | None = None
    dpo: OpenAIDpo | None = None
    lora: dict[str, int | float | str | list[str]] | None = Field(
        None, description="Trainbot extension: LoRA settings, e.g. {'r': 16}."
    )


class OpenAIJobCreate(OpenAIBody):
    """`POST /fine_tuning/jobs`."""

    model: str = Field(min_length=1, max_length=500, description="A preset, model or folder.")
    training_file: str = Field(min_length=1, max_length=100, description="A file id.")
    validation_file: str | None = Field(
        None, max_length=100, description="A file id to validate on (local jobs)."
    )
    suffix: str | None = Field(None, min_length=1, max_length=64, description="Model name.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Training seed.")
    metadata: dict[str, str] | None = Field(None, max_length=16, description="Up to 16 pairs.")
    hyperparameters: OpenAIHyperparameters | None = None
    method: OpenAIMethod | None = None
    backend: Literal["local", "openai", "ray"] | None = Field(
        None,
        description="Trainbot's: where to train (here, at OpenAI or on a Ray cluster; the "
        "client sends it with extra_body); default trainer.default_backend.",
    )


class OpenAIStreamOptions(OpenAIBody):
    """`stream_options`."""

    include_usage: bool = False


class OpenAISampling(OpenAIBody):
    """What chat and text completions share."""

    model: str = Field(min_length=1, max_length=500)
    max_tokens: int | None = Field(None, ge=1, le=4096, description="New tokens at most.")
    max_completion_tokens: int | None = Field(None, ge=1, le=4096, description="Same.")
    temperature: float | None = Field(None, ge=0, le=5, description="0 is greedy.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    n: int = Field(1, ge=1, le=8, description="Choices.")
    stop: str | list[str] | None = Field(None, description="Up to 4 stop strings.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    stream: bool = False
    stream_options: OpenAIStreamOptions | None = None


class OpenAIMessage(OpenAIBody):
    """One chat message; content as a string or a list of text parts."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class OpenAIChatBody(OpenAISampling):
    """`POST /chat/completions`."""

    messages: list[OpenAIMessage] = Field(min_length=1, max_length=1000)


class OpenAICompletionBody(OpenAISampling):
    """`POST /completions`."""

    prompt: str | list[str] = Field(description="A prompt (a list: one, the first is used).")
