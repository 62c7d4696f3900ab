"""Generation routes: generate text, list saved predictions."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from bot.http.responses import PredictionList, PredictionOut
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import GenerateBody, GenerateFields, PredictionQuery


class Usage(BaseModel):
    """Tokens read and written."""

    prompt_tokens: int
    completion_tokens: int


class GenerateOut(BaseModel):
    """A generated continuation; `prediction_id` finds it again in /v1/predictions."""

    text: str
    model: str
    model_id: str
    usage: Usage
    latency_s: float
    prediction_id: int


async def generate(call: Call) -> web.StreamResponse:
    """Continue a prompt; 429 with Retry-After when too many generations run."""
    body = call.body_as(GenerateFields)
    result = await call.services.generation.generate(
        body.prompt, model=body.model, params=body.params(), requested_by=call.client
    )
    call.state.metrics.generation_seconds.observe(result.latency_s)
    out = GenerateOut(
        text=result.text,
        model=result.model.label,
        model_id=result.model.id,
        usage=Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
        latency_s=result.latency_s,
        prediction_id=result.prediction.id,
    )
    return json_response(out)


async def list_predictions(call: Call) -> web.StreamResponse:
    """Saved generations, newest first, paged with `before`."""
    q = call.query_as(PredictionQuery)
    rows = await call.services.generation.predictions(q.model, limit=q.limit, before=q.before)
    next_before = rows[-1].id if len(rows) == q.limit else None
    return json_response(
        PredictionList(predictions=[PredictionOut.of(r) for r in rows], next_before=next_before)
    )


ROUTES = (
    Route(
        "POST",
        "/v1/generate",
        generate,
        "Generate text",
        "generation",
        body=GenerateBody,
        response=GenerateOut,
        errors=(404, 413, 422, 429, 503),
    ),
    Route(
        "GET",
        "/v1/predictions",
        list_predictions,
        "List saved generations",
        "generation",
        query=PredictionQuery,
        response=PredictionList,
        errors=(404, 422),
    ),
)
