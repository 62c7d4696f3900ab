"""`/models`: every registered version and every base preset; delete fine-tuned ones."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http.openai import ids
from bot.http.openai.errors import OpenAIError
from bot.http.openai.model_ref import bases, missing, registered
from bot.http.openai.pages import listing
from bot.http.routing import Call, json_response
from storage.registry import ModelRow


async def openai_list_models(call: Call) -> web.StreamResponse:
    """Bases first, then registered versions newest first."""
    versions = await call.services.models.versions()
    items = [base_object(name) for name in bases(call)]
    items += [model_object(row) for row in versions]
    return json_response(listing(items))


async def openai_get_model(call: Call) -> web.StreamResponse:
    """One model."""
    given = call.param("model")
    if given in bases(call):
        return json_response(base_object(given))
    row = await registered(call, given)
    if row is None:
        raise missing(given)
    return json_response(model_object(row))


async def openai_delete_model(call: Call) -> web.StreamResponse:
    """Delete a fine-tuned version (not the active one, nor the base of a busy job)."""
    given = call.param("model")
    if given in bases(call):
        raise OpenAIError(
            f"{given!r} is a base model: only fine-tuned models can be deleted",
            param="model",
            status=403,
            code="model_not_deletable",
        )
    row = await registered(call, given)
    if row is None:
        raise missing(given)
    deleted = await call.services.models.delete(row.id)
    return json_response({"id": ids.model_id(deleted), "object": "model", "deleted": True})


def model_object(row: ModelRow) -> dict[str, Any]:
    """OpenAI's model object for a registered version."""
    return {
        "id": ids.model_id(row),
        "object": "model",
        "created": int(row.created_at),
        "owned_by": "trainbot",
    }


def base_object(name: str) -> dict[str, Any]:
    """OpenAI's model object for a base preset."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "trainbot"}
