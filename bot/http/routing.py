"""Routes are declared once: the aiohttp router and the OpenAPI document are built from them.

A handler receives a `Call` with the parsed path, query and body already validated
against the declared pydantic models, and returns an aiohttp response.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from bot.http.state import CLIENT, Auth, ServerState
from bot.settings import Scope

if TYPE_CHECKING:
    from bot.core.services import Services

Handler = Callable[["Call"], Awaitable[web.StreamResponse]]
Model = TypeVar("Model", bound=BaseModel)
Parsed = TypeVar("Parsed")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
TOML_TYPE = "application/toml"
OFF_LOOP_BYTES = 64 * 1024  # bodies larger than this are parsed in a thread


@dataclass(frozen=True)
class Route:
    """One operation: what it takes and answers, for both the router and the docs."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None  # JSON request body
    form: type[BaseModel] | None = None  # multipart/form-data alternative: its plain fields
    files: tuple[str, ...] = ()  # ... and its file fields
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: Auth = "token"
    scope: Scope | None = None  # what a token needs; None: by method (see `needs`)
    produces: str = "application/json"
    streams: bool = False  # also answers text/event-stream when asked to
    toml: bool = False  # the body may also be TOML (Content-Type: application/toml)
    headers: tuple[tuple[str, str], ...] = ()  # documented request headers: (name, description)
    extra_statuses: tuple[int, ...] = field(default=())  # other success statuses

    @property
    def needs(self) -> Scope:
        """The token scope the route needs: GET reads, DELETE administers, the rest trains."""
        if self.scope is not None:
            return self.scope
        if self.method == "GET":
            return "read"
        return "admin" if self.method == "DELETE" else "train"

    @property
    def operation_id(self) -> str:
        """A stable name for the operation, from the handler's name."""
        return self.handler.__name__


@dataclass
class Call:
    """One request as a handler sees it."""

    request: web.Request
    route: Route
    state: ServerState
    client: str
    query: BaseModel | None = None
    body: BaseModel | None = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name: (filename, data)

    @property
    def services(self) -> Services:
        """The domain services."""
        return self.state.services

    def body_as(self, model: type[Model]) -> Model:
        """The validated body, as the route declared it."""
        return _declared(self.body, model)

    def query_as(self, model: type[Model]) -> Model:
        """The validated query string, as the route declared it."""
        return _declared(self.query, model)

    def param(self, name: str) -> str:
        """A path parameter."""
        return self.request.match_info[name]


def _declared(value: BaseModel | None, model: type[Model]) -> Model:
    if not isinstance(value, model):  # a handler asked for what its route does not declare
        raise TypeError(f"expected {model.__name__}, got {type(value).__name__}")
    return value


def json_response(data: object, status: int = 200, **headers: str) -> web.Response:
    """A JSON answer from a pydantic model, a list of them, or plain data."""
    return web.Response(
        text=json.dumps(_plain(data), ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=headers or None,
    )


def _plain(data: object) -> object:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(item) for item in data]
    return data


def add_routes(app: web.Application, routes: Iterable[Route], state: ServerState) -> None:
    """Register every declared route on the aiohttp router."""
    for route in routes:
        resource = app.router.add_resource(route.path)
        resource.add_route(route.method, _adapter(route, state))
        state.auth[(route.method, resource.canonical)] = route.auth
        state.scopes[(route.method, resource.canonical)] = route.needs


def _adapter(
    route: Route, state: ServerState
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        call = Call(request, route, state, client=request.get(CLIENT, ""))
        if route.query is not None:
            call.query = route.query.model_validate(dict(request.query))
        if route.form is not None and request.content_type in FORM_TYPES:
            call.body, call.files = await _read_form(request, route.form)
        elif route.body is not None and route.toml and request.content_type == TOML_TYPE:
            raw = await request.read()
            call.body = route.body.model_validate(await _off_loop(raw, _read_toml, raw))
        elif route.body is not None:
            # Strict JSON parsing: "5" is not an integer, unknown keys are refused, so the
            # server accepts exactly what the published schema says.
            raw = await request.read() or b"null"
            call.body = await _off_loop(raw, route.body.model_validate_json, raw)
        return await route.handler(call)

    handle.__name__ = route.operation_id
    return handle


async def _off_loop(raw: bytes, parse: Callable[[bytes], Parsed], data: bytes) -> Parsed:
    # A large body parsed on the loop would stall every other request (/healthz too).
    if len(raw) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse, data)
    return parse(data)


def _read_toml(data: bytes) -> dict[str, Any]:
    from bot.core.errors import Invalid

    try:
        return tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"the body is not valid TOML: {exc}") from None
    except RecursionError:
        raise Invalid("the body is not valid TOML: it is nested too deeply") from None


async def _read_form(
    request: web.Request, model: type[BaseModel]
) -> tuple[BaseModel, dict[str, tuple[str, bytes]]]:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            files[name] = (value.filename, value.file.read())
        else:
            fields[name] = value if isinstance(value, str) else bytes(value).decode()
    return model.model_validate(fields), files
