"""The three middlewares: metrics (outermost), errors to JSON, authentication (innermost)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from pydantic import ValidationError

from bot.core.errors import TooMany, TrainbotError
from bot.http.auth import bearer_client, check_credential_headers, require_scope, verify_hook
from bot.http.errors import Busy, TooLarge, Unauthorized, error_body
from bot.http.limits import RETRY_AFTER_S
from bot.http.openai.errors import openai_errors
from bot.http.state import CLIENT, SCOPES, ServerState
from bot.logs import get_logger

log = get_logger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def build_middlewares(state: ServerState) -> list[Middleware]:
    """The middlewares in the order aiohttp applies them (first is outermost)."""
    return [_metrics(state), _errors(state), openai_errors(), _auth(state)]


def _metrics(state: ServerState) -> Middleware:
    @web.middleware
    async def metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        began = time.perf_counter()
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        finally:
            resource = request.match_info.route.resource
            # The canonical path (/v1/jobs/{id}), so label sets stay few whatever the URL.
            route = resource.canonical if resource is not None else "unmatched"
            seconds = time.perf_counter() - began
            state.metrics.observe_request(request.method, route, status, seconds)

    return metrics


def _errors(state: ServerState) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("X-Request-Id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await _translate(request, handler, request_id)
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
        return response

    return errors


async def _translate(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except TrainbotError as exc:
        headers = {}
        if isinstance(exc, TooMany | Busy):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="trainbot"'
        return _json_error(exc.status, exc.code, exc.message, exc.details, headers)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        message = "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in details)
        return _json_error(422, "invalid", message or "invalid request", details)
    except HttpProcessingError as exc:  # a malformed multipart part, header, …
        return _json_error(400, "bad_request", f"malformed request: {exc.message}")
    except web.HTTPException as exc:
        if exc.status == 413:
            return _json_error(413, "too_large", "the request body is too large")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Location")}
        return _json_error(exc.status, _http_code(exc.status), exc.reason, None, headers)
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        message = f"internal error; quote request id {request_id} when reporting it"
        return web.json_response(error_body("internal", message, request_id=request_id), status=500)


def _json_error(
    status: int,
    code: str,
    message: str,
    details: object = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _auth(state: ServerState) -> Middleware:
    limit = int(state.settings.http.max_body_mb * 1024 * 1024)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if state.gate is not None and state.gate.is_overflow(request):
            return await _only_health(request, handler)
        return await _authenticated(request, handler)

    async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        if route.resource is None:  # 404/405 from the router: nothing to protect
            response: web.StreamResponse = await handler(request)
            return response
        # Fail closed: a route added without a declaration still needs a token (and admin).
        key = (request.method, route.resource.canonical)
        mode = state.auth.get(key, "token")
        if mode != "none":
            check_credential_headers(request)
        if mode == "token":
            caller = bearer_client(state, request)
            require_scope(caller, state.scopes.get(key, "admin"), request)
            request[CLIENT] = caller.id
            request[SCOPES] = caller.scopes
        # Refused before reading a byte (aiohttp's client_max_size covers chunked bodies).
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"the request body is over {state.settings.http.max_body_mb:g} MiB")
        if mode == "hook":
            request[CLIENT] = await verify_hook(state, request)
        response = await handler(request)
        return response

    return auth


async def _only_health(request: web.Request, handler: Handler) -> web.StreamResponse:
    # A connection accepted past http.max_connections: health probes only, then closed.
    if request.path == "/healthz":
        response = await handler(request)
    else:
        message = "too many open connections; retry in a moment"
        response = _json_error(503, "busy", message, None, {"Retry-After": str(RETRY_AFTER_S)})
    response.force_close()
    return response
