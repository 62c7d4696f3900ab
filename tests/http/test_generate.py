"""/v1/generate takes the parameters declared once in `trainer.spec.GenerateParams`."""

import dataclasses
from typing import Any

import pytest

from bot.app import App
from tests.http.support import Api
from trainer.spec import GenerateParams

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _documented(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's default, bounds and help, wherever the schema puts them."""
    value = next((o for o in prop.get("anyOf", []) if o.get("type") != "null"), prop)
    keys = ("minimum", "exclusiveMinimum", "maximum", "maxItems")
    return {"default": prop.get("default"), "help": prop.get("description")} | {
        k: value[k] for k in keys if k in value
    }


def _declared(field: dataclasses.Field[Any]) -> dict[str, Any]:
    limit = field.metadata["limit"]
    if isinstance(field.default, tuple):
        return {"default": None, "help": limit.help, "maxItems": limit.high}
    low = "exclusiveMinimum" if limit.low_open else "minimum"
    return {"default": field.default, "help": limit.help, low: limit.low, "maximum": limit.high}


async def test_the_documented_body_is_generate_params(api: Api) -> None:
    doc = (await api.get("/openapi.json")).json
    body = doc["paths"]["/v1/generate"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    props = doc["components"]["schemas"][name]["properties"]
    expected = {f.name: _declared(f) for f in dataclasses.fields(GenerateParams)}
    assert expected == {k: _documented(v) for k, v in props.items() if k in expected}
    assert {"prompt", "model", *expected} == set(props)


async def test_max_tokens_above_the_setting_is_refused_before_any_model_loads(
    api: Api, app: App
) -> None:
    cap = app.settings.trainer.max_new_tokens
    reply = await api.post("/v1/generate", json={"prompt": "the cat", "max_tokens": cap + 1})
    assert 422 == reply.status
    assert f"max_tokens must be between 1 and {cap}" == reply.error["message"]


async def test_a_parameter_outside_its_limit_names_the_field(api: Api) -> None:
    reply = await api.post("/v1/generate", json={"prompt": "hi", "top_p": 0})
    assert 422 == reply.status
    assert "top_p: Input should be greater than 0" == reply.error["message"]
