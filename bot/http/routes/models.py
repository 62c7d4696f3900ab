"""Model routes: list, show, activate, delete, and the streamed archive of a version."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.compare import compare_models
from bot.core.errors import Conflict
from bot.http.archive import tar_gz_chunks
from bot.http.responses import ModelList, ModelOut
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import Body
from storage.registry import ModelRow


async def list_models(call: Call) -> web.StreamResponse:
    """Every model version, newest first."""
    rows = await call.services.models.versions()
    return json_response(ModelList(models=[ModelOut.of(r) for r in rows]))


async def get_model(call: Call) -> web.StreamResponse:
    """One version (a bare name means its active version)."""
    return json_response(ModelOut.of(await call.services.models.resolve(call.param("id"))))


async def activate_model(call: Call) -> web.StreamResponse:
    """Make a version the active one of its name and the default for generation."""
    return json_response(ModelOut.of(await call.services.models.activate(call.param("id"))))


async def delete_model(call: Call) -> web.StreamResponse:
    """Delete a version; 409 for the active one or the base of a busy job."""
    return json_response(ModelOut.of(await call.services.models.delete(call.param("id"))))


async def merge_model(call: Call) -> web.StreamResponse:
    """Fold a LoRA adapter into its base: a new full version of the adapter's name (201)."""
    merged = await call.services.models.merge(call.param("id"))
    return json_response(ModelOut.of(merged), 201)


class CompareBody(Body):
    """The other model, and optionally the dataset and a prompt."""

    other: str = Field(min_length=1, max_length=200, description="The model to compare with.")
    dataset: str | None = Field(None, max_length=200, description="Measured on (default: ours).")
    prompt: str | None = Field(None, max_length=4000, description="Both answer it (greedy).")


class SideOut(BaseModel):
    """One model's eval loss (or why none) and answer."""

    model: ModelOut
    eval_loss: float | None
    examples: int
    answer: str | None
    problem: str | None


class CompareOut(BaseModel):
    """Two models measured on the same examples of one dataset."""

    dataset: str
    prompt: str | None
    sides: list[SideOut]


async def compare_model(call: Call) -> web.StreamResponse:
    """Eval loss of both models on the same examples, and their greedy answers to a prompt."""
    body = call.body_as(CompareBody)
    found = await compare_models(
        call.services,
        call.param("id"),
        body.other,
        dataset=body.dataset,
        prompt=body.prompt,
        requested_by=call.client,
    )
    sides = [
        SideOut(
            model=ModelOut.of(s.model),
            eval_loss=s.eval_loss,
            examples=s.examples,
            answer=s.answer,
            problem=s.problem,
        )
        for s in found.sides
    ]
    return json_response(CompareOut(dataset=found.dataset.label, prompt=found.prompt, sides=sides))


async def model_archive(call: Call) -> web.StreamResponse:
    """The version's Hugging Face folder as a .tar.gz, streamed as it is compressed."""
    model = await call.services.models.resolve(call.param("id"))
    folder = Path(model.path) if model.path else None
    if folder is None or not folder.is_dir():
        raise Conflict(f"{model.label} has no files here (a remote model?)")
    root = f"{model.name}-v{model.version}"
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/gzip",
            "Content-Disposition": f'attachment; filename="{root}.tar.gz"',
        }
    )
    response.enable_chunked_encoding()  # the size is unknown until the last byte
    await response.prepare(call.request)
    task = call.request.task
    call.state.streams.add(task)
    try:
        replaced = await _adapter_config(call, model) if model.is_adapter else {}
        async with contextlib.aclosing(tar_gz_chunks(folder, root, replaced)) as chunks:
            async for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left; closing the generator stops the writer thread
    finally:
        call.state.streams.discard(task)
    return response


async def _adapter_config(call: Call, model: ModelRow) -> dict[str, bytes]:
    """The adapter's config as archived: its base named by version (or hub id), not folder."""
    path = Path(model.path) / "adapter_config.json"
    config = json.loads(path.read_text())
    base = await call.services.store.models.get(model.base)
    config["base_model_name_or_path"] = base.label if base else model.base
    return {"adapter_config.json": (json.dumps(config, indent=2) + "\n").encode()}


_REF = (404, 422)
ROUTES = (
    Route("GET", "/v1/models", list_models, "List model versions", "models", response=ModelList),
    Route(
        "GET",
        "/v1/models/{id}",
        get_model,
        "Show a model version",
        "models",
        response=ModelOut,
        errors=_REF,
    ),
    Route(
        "POST",
        "/v1/models/{id}/activate",
        activate_model,
        "Activate a model version",
        "models",
        response=ModelOut,
        errors=(*_REF, 403),
        scope="admin",
    ),
    Route(
        "DELETE",
        "/v1/models/{id}",
        delete_model,
        "Delete a model version",
        "models",
        response=ModelOut,
        errors=(404, 409, 422),
    ),
    Route(
        "POST",
        "/v1/models/{id}/merge",
        merge_model,
        "Merge a LoRA adapter into its base",
        "models",
        response=ModelOut,
        status=201,
        errors=(404, 409, 422),
    ),
    Route(
        "POST",
        "/v1/models/{id}/compare",
        compare_model,
        "Compare two model versions",
        "models",
        body=CompareBody,
        response=CompareOut,
        errors=(404, 422, 429),
    ),
    Route(
        "GET",
        "/v1/models/{id}/archive",
        model_archive,
        "Download a model as .tar.gz",
        "models",
        produces="application/gzip",
        errors=(404, 409, 422),
    ),
)
