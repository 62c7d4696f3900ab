"""Request bodies and query strings, validated with pydantic (and published as OpenAPI).

Bodies are strict (unknown keys are refused, "5" is not a number); query strings and
form fields arrive as text, so there "5" is a number, but unknown names are refused too.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from bot.core.types import JobStatus
from trainer.spec import GenerateParams, Limit

DatasetFormat = Literal["text", "completion", "chat", "keywords", "csv", "preference"]
SQLITE_MAX_INT = 2**63 - 1  # larger numbers cannot even be compared in a query
# Inline in the schema (a query parameter cannot point at a shared component).
StatusParam = Annotated[
    JobStatus, WithJsonSchema({"enum": [s.value for s in JobStatus], "type": "string"})
]


class Body(BaseModel):
    """A JSON request body: strict types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Query(BaseModel):
    """A query string or form: values arrive as text; unknown names are refused (typos)."""

    model_config = ConfigDict(extra="forbid")


class DatasetRecords(Body):
    """Upload records as JSON: each record is one line of a JSONL file."""

    name: str = Field(min_length=1, max_length=64, description="Dataset name (versioned).")
    format: DatasetFormat | None = Field(None, description="Row format; detected when absent.")
    records: list[Any] = Field(min_length=1, description="Rows, e.g. {'text': '...'}.")
    skip_invalid: bool = Field(False, description="Drop invalid rows instead of refusing.")


class DatasetForm(Query):
    """Upload a file as multipart/form-data: the file in field `file`, plus these fields."""

    name: str = Field(min_length=1, max_length=64, description="Dataset name (versioned).")
    format: DatasetFormat | None = Field(None, description="Row format; detected when absent.")
    skip_invalid: bool = Field(False, description="Drop invalid rows instead of refusing.")


class LoraBody(Body):
    """LoRA settings; absent ones take their defaults (ranges are checked with the job)."""

    r: int | None = Field(None, description="Adapter rank (1-1024; 16).")
    alpha: int | None = Field(None, description="Scale numerator (twice r).")
    dropout: int | float | None = Field(None, description="Dropout on the adapter (0-0.9).")
    targets: list[str] | None = Field(
        None, max_length=64, description="Layer names, e.g. ['q_proj', 'v_proj']; all linear."
    )
    quantize: Literal["4bit"] | None = Field(None, description="QLoRA (CUDA + bitsandbytes).")


class DpoBody(Body):
    """DPO settings."""

    beta: int | float | None = Field(None, description="Strength of the preference (0.1).")


class MethodBody(Body):
    """How to train: every weight, a LoRA adapter, or DPO on preference pairs."""

    type: Literal["full", "lora", "dpo"] = Field("full", description="The method.")
    lora: LoraBody | None = Field(None, description="LoRA settings (lora, or dpo with adapter).")
    dpo: DpoBody | None = Field(None, description="DPO settings.")

    def raw(self) -> dict[str, Any]:
        """The raw method JobRequest carries (absent settings left out)."""
        return self.model_dump(exclude_none=True)


class JobCreate(Body):
    """Fine-tune a model on a dataset."""

    dataset: str = Field(min_length=1, max_length=200, description="Id, prefix, name, name@vN.")
    base: str | None = Field(None, max_length=500, description="Preset, model ref or folder.")
    name: str | None = Field(None, max_length=64, description="Model name; the dataset's name.")
    hyperparameters: dict[str, int | float] | None = Field(
        None, description="e.g. {'max_steps': 200, 'learning_rate': 0.0005}."
    )
    backend: Literal["local", "openai", "ray"] | None = Field(
        None,
        description="Where to train: here, at OpenAI (needs [openai] api_key) or on a Ray "
        "cluster (needs [ray] address); default trainer.default_backend.",
    )
    resources: dict[str, int | float] | None = Field(
        None, description="Ray: {'workers': 2, 'gpus_per_worker': 1, 'cpus_per_worker': 4}."
    )
    method: MethodBody | None = Field(None, description="e.g. {'type': 'lora', 'lora': {'r': 16}}.")


class JobQuery(Query):
    """Filter and page the job list (newest first)."""

    status: StatusParam | None = Field(None, description="Only jobs in this state.")
    limit: int = Field(20, ge=1, le=200, description="Page size.")
    after: str | None = Field(None, max_length=64, description="Id of the previous page's last.")


class EventQuery(Query):
    """Page a job's events (oldest first)."""

    after: int = Field(0, ge=0, le=SQLITE_MAX_INT, description="Only events with a larger seq.")
    limit: int = Field(100, ge=1, le=1000, description="Page size.")


class GenerateFields(Body):
    """What `/v1/generate` takes besides the sampling parameters (added from GenerateParams)."""

    prompt: str = Field("", max_length=20_000, description="Text to continue.")
    model: str | None = Field(None, max_length=200, description="Model id, name or name@vN.")

    def params(self) -> GenerateParams:
        """The sampling parameters as the generation service takes them."""
        values: dict[str, Any] = {name: getattr(self, name) for name in GenerateParams.limits()}
        frozen: dict[str, Any] = {  # the dataclass is frozen all the way: tuples, not lists
            name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items()
        }
        return GenerateParams(**frozen)


def _param_field(param: dataclasses.Field[object], annotation: object) -> tuple[Any, Any]:
    """A GenerateParams field as a body field: same name, default, bounds and description."""
    limit: Limit = param.metadata["limit"]
    if isinstance(param.default, tuple):  # a list of strings; the limit counts its items
        count = int(limit.high) if limit.high is not None else None
        return list[str], Field(default_factory=list, max_length=count, description=limit.help)
    ge, gt = (None, limit.low) if limit.low_open else (limit.low, None)
    return annotation, Field(param.default, ge=ge, gt=gt, le=limit.high, description=limit.help)


# dict[str, Any]: create_model's keyword arguments are field definitions of any type.
_PARAM_FIELDS: dict[str, Any] = {
    f.name: _param_field(f, typing.get_type_hints(GenerateParams)[f.name])
    for f in dataclasses.fields(GenerateParams)
}
GenerateBody = create_model(
    "GenerateBody",
    __base__=GenerateFields,
    __module__=__name__,
    __doc__="Continue a prompt with a model (the default one when `model` is absent).",
    **_PARAM_FIELDS,
)


class PredictionQuery(Query):
    """Page saved generations (newest first)."""

    model: str | None = Field(None, max_length=200, description="Only this model's.")
    limit: int = Field(50, ge=1, le=500, description="Page size.")
    before: int | None = Field(None, ge=1, le=SQLITE_MAX_INT, description="Only ids below this.")


class HookBody(Body):
    """A webhook call: `text` for notify hooks; `data` rows or a `dataset` ref for train hooks."""

    text: str | None = Field(None, min_length=1, max_length=20_000, description="Markdown.")
    data: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="Rows for a new dataset version, e.g. {'text': '...'}."
    )
    dataset: str | None = Field(None, min_length=1, max_length=200, description="Existing data.")
