"""Data preparation routes: optimize a dataset, generate one from a template, tasks.

Both POSTs answer 200 with the estimate (nothing stored), or with `"confirm": true` 202
with the estimate and the started task, which `GET /v1/tasks/{id}` follows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.dataprep.template import MAX_COMBINATIONS, MAX_TOKENS_LIMIT, make_spec
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import Body, Query
from storage.data_tasks import DataTaskRow

CONFIRM = "false: answer the estimate only; true: start the task (202)."


class OptimizeBody(Body):
    """Clean every record of a dataset version with the chat model."""

    instructions: str | None = Field(
        None, min_length=1, max_length=4000, description="Own cleaning instructions."
    )
    confirm: bool = Field(False, description=CONFIRM)


class GenerateBody(Body):
    """Generate prompt/completion pairs from a template (JSON, or TOML with the same keys)."""

    name: str = Field(min_length=1, max_length=64, description="Dataset name to store into.")
    template: str = Field(
        min_length=1, max_length=20_000, description="Generation prompt with {placeholders}."
    )
    prompt: str | None = Field(
        None,
        min_length=1,
        max_length=20_000,
        description="Final prompt stored; default: the values "
        "joined with ', ' in the template's order.",
    )
    variables: dict[str, list[str]] = Field(
        description=f"Values per placeholder; at most {MAX_COMBINATIONS} combinations."
    )
    max_tokens: int | None = Field(None, description=f"1 to {MAX_TOKENS_LIMIT}; default 256.")
    temperature: float | None = Field(None, description="0 to 2.")
    confirm: bool = Field(False, description=CONFIRM)


class TaskQuery(Query):
    """How many tasks to list."""

    limit: int = Field(50, ge=1, le=500, description="At most this many, newest first.")


class EstimateOut(BaseModel):
    """What a task costs: items, API calls, approximate tokens and dollars."""

    kind: str
    target: str
    items: int
    calls: int
    input_tokens: int
    output_tokens: int
    output_is_limit: bool
    cost_usd: float
    model: str
    notes: list[str]
    summary: str


class TaskOut(BaseModel):
    """A data task: progress while it runs, then the new version or the error."""

    id: str
    kind: str
    status: str
    dataset_name: str
    source_dataset_id: str | None
    progress: dict[str, int]
    params: dict[str, Any]
    result_dataset_id: str | None
    result_label: str | None
    report: dict[str, Any]
    error: str | None
    requested_by: str
    room_id: str | None
    created_at: float
    finished_at: float | None

    @classmethod
    def of(cls, row: DataTaskRow) -> TaskOut:
        """From a stored row."""
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            dataset_name=row.dataset_name,
            source_dataset_id=row.dataset_id,
            progress=row.progress,
            params=row.params,
            result_dataset_id=row.result_dataset_id,
            result_label=row.result_label,
            report=row.report,
            error=row.error,
            requested_by=row.requested_by,
            room_id=row.room_id,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


class PrepOut(BaseModel):
    """The estimate, and the started task when confirmed."""

    estimate: EstimateOut
    task: TaskOut | None = None


class TaskList(BaseModel):
    """Data tasks, newest first."""

    tasks: list[TaskOut]


async def optimize_dataset(call: Call) -> web.StreamResponse:
    """Estimate cleaning a dataset version, or start it into a new version (202)."""
    body = call.body_as(OptimizeBody)
    dataprep = call.services.dataprep
    ref = call.param("id")
    if not body.confirm:
        estimate = await dataprep.estimate_optimize(ref, body.instructions)
        return json_response(PrepOut(estimate=EstimateOut(**estimate.to_dict())))
    task = await dataprep.optimize(ref, body.instructions, requested_by=call.client)
    return json_response(_started(task), 202)


async def generate_dataset(call: Call) -> web.StreamResponse:
    """Estimate generating a dataset from a template, or start it (202)."""
    body = call.body_as(GenerateBody)
    dataprep = call.services.dataprep
    dataprep.check_available()
    spec = make_spec(body.template, body.variables, body.prompt, body.max_tokens, body.temperature)
    if not body.confirm:
        estimate = await dataprep.estimate_generate(body.name, spec)
        return json_response(PrepOut(estimate=EstimateOut(**estimate.to_dict())))
    task = await dataprep.generate(body.name, spec, requested_by=call.client)
    return json_response(_started(task), 202)


def _started(task: DataTaskRow) -> PrepOut:
    return PrepOut(estimate=EstimateOut(**task.params["estimate"]), task=TaskOut.of(task))


async def list_tasks(call: Call) -> web.StreamResponse:
    """Data tasks, newest first."""
    q = call.query_as(TaskQuery)
    rows = await call.services.dataprep.find(q.limit)
    return json_response(TaskList(tasks=[TaskOut.of(row) for row in rows]))


async def get_task(call: Call) -> web.StreamResponse:
    """One data task: progress, report (incl. invalid answers), result or error."""
    return json_response(TaskOut.of(await call.services.dataprep.get(call.param("id"))))


ROUTES = (
    Route(
        "POST",
        "/v1/datasets/{id}/optimize",
        optimize_dataset,
        "Clean a dataset version with the chat model",
        "dataprep",
        body=OptimizeBody,
        response=PrepOut,
        extra_statuses=(202,),
        errors=(404, 422),
    ),
    Route(
        "POST",
        "/v1/datasets/generate",
        generate_dataset,
        "Generate a dataset from a template",
        "dataprep",
        body=GenerateBody,
        toml=True,
        response=PrepOut,
        extra_statuses=(202,),
        errors=(422,),
    ),
    Route(
        "GET",
        "/v1/tasks",
        list_tasks,
        "List data tasks",
        "dataprep",
        query=TaskQuery,
        response=TaskList,
        errors=(422,),
    ),
    Route(
        "GET",
        "/v1/tasks/{id}",
        get_task,
        "Show a data task",
        "dataprep",
        response=TaskOut,
        errors=(404,),
    ),
)
