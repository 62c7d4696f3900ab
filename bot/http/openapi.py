"""The OpenAPI 3.1 document, generated from the route table and its pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.http.auth import SIGNATURE_HEADER, TOKEN_HEADER
from bot.http.responses import ErrorOut
from bot.http.routing import Route

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)}")
SECURITY = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from http.tokens; its scopes (read, train, admin) "
        "decide which operations it may call.",
    },
    "hookToken": {
        "type": "apiKey",
        "in": "header",
        "name": TOKEN_HEADER,
        "description": "The hook's secret (hooks with auth = token).",
    },
    "hookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": SIGNATURE_HEADER,
        "description": "sha256=<hex HMAC-SHA256 of the raw body> (auth = hmac).",
    },
}
TEXT_BODIES = {
    "application/gzip": {"type": "string", "format": "binary"},
    "text/plain": {"type": "string"},
    "text/html": {"type": "string"},
}


def build_openapi(routes: Iterable[Route], *, title: str, version: str) -> dict[str, Any]:
    """Paths, operations and component schemas for every declared route."""
    routes = list(routes)
    refs, defs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Fine-tune and use small language models over HTTP.",
        },
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": SECURITY},
        "security": [{"bearer": []}],
    }


Refs = dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]


def _schemas(routes: list[Route]) -> tuple[Refs, dict[str, Any]]:
    pairs: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ErrorOut, "serialization")}
    for route in routes:
        if route.body is not None:
            pairs.add((route.body, "validation"))
        if route.response is not None:
            pairs.add((route.response, "serialization"))
    ordered = sorted(pairs, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, defs = models_json_schema(ordered, ref_template=REF)
    return {(model, mode): schema for (model, mode), schema in refs.items()}, dict(defs)  # type: ignore[misc]


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": _parameters(route),
        "responses": _responses(route, refs),
    }
    if route.handler.__doc__:
        op["description"] = route.handler.__doc__.strip()
    if route.auth == "token":
        scope = f"Needs a token with the `{route.needs}` scope (or one without scopes)."
        op["description"] = f"{op.get('description', '')}\n\n{scope}".strip()
    if route.body is not None:
        content = {"application/json": {"schema": refs[(route.body, "validation")]}}
        if route.form is not None:
            content["multipart/form-data"] = {"schema": _form_schema(route)}
        if route.toml:
            content["application/toml"] = {"schema": refs[(route.body, "validation")]}
        op["requestBody"] = {"required": True, "content": content}
    if route.auth == "none":
        op["security"] = []
    elif route.auth == "hook":
        op["security"] = [{"hookToken": []}, {"hookSignature": []}]
    return op


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAM.findall(route.path)
    ]
    if route.query is not None:
        schema = route.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "description": prop.get("description", ""),
                    "schema": _without_null(prop),
                }
            )
    for name, description in route.headers:
        params.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
        )
    return params


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    # An absent query parameter is how a query string says "null".
    prop = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        prop.update(options[0])
    elif options:
        prop["anyOf"] = options
    return prop


def _form_schema(route: Route) -> dict[str, Any]:
    assert route.form is not None
    schema = route.form.model_json_schema()
    properties = {name: _without_null(p) for name, p in schema.get("properties", {}).items()}
    for name in route.files:
        properties[name] = {"type": "string", "format": "binary"}
    required = [*schema.get("required", []), *route.files]
    return {"type": "object", "properties": properties, "required": required}


def _responses(route: Route, refs: Refs) -> dict[str, Any]:
    success = {"description": route.summary, "content": _success_content(route, refs)}
    responses: dict[str, Any] = {str(route.status): success}
    for status in route.extra_statuses:
        responses[str(status)] = {**success, "description": HTTPStatus(status).phrase}
    errors = set(route.errors)
    if route.auth != "none":
        errors.add(401)
    if route.auth == "token":
        errors.add(403)  # the token lacks the route's scope
    if route.streams:
        errors.update((429, 503))  # open streams: per token, in all
    if route.body is not None or route.query is not None:
        errors.update((400, 413, 422) if route.body is not None else (422,))
    error = {"application/json": {"schema": refs[(ErrorOut, "serialization")]}}
    for status in sorted(errors):
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": error}
    responses["default"] = {"description": "Unexpected error", "content": error}
    return responses


def _success_content(route: Route, refs: Refs) -> dict[str, Any]:
    if route.produces in TEXT_BODIES:
        return {route.produces: {"schema": TEXT_BODIES[route.produces]}}
    schema = refs[(route.response, "serialization")] if route.response else {"type": "object"}
    content = {"application/json": {"schema": schema}}
    if route.streams:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return content
