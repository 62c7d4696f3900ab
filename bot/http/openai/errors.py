"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

One middleware (between the error middleware and authentication) answers every error of
a /openai/v1 request this way, authentication refusals included, so the official client
raises the class it maps the status to (400 BadRequestError, 404 NotFoundError, …).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import ValidationError

from bot.core.errors import TooMany, TrainbotError
from bot.http.errors import Busy, Unauthorized

PREFIX = "/openai/v1"
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}


class OpenAIError(TrainbotError):
    """A refusal that names the request parameter at fault (OpenAI's `param`)."""

    status = 400
    code = "invalid_request"

    def __init__(
        self, message: str, *, param: str | None = None, status: int = 400, code: str = ""
    ) -> None:
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code or self.code


def error_response(
    status: int, message: str, *, code: str, param: str | None = None
) -> web.Response:
    """An error answer in OpenAI's shape."""
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


def openai_errors() -> Middleware:
    """The middleware: OpenAI-shaped errors under /openai/v1, nothing changed elsewhere."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
            return await handler(request)
        try:
            return await handler(request)
        except TrainbotError as exc:
            return _domain(exc)
        except ValidationError as exc:
            return _invalid(exc)
        except web.HTTPException as exc:
            if exc.status == 413:
                return error_response(413, "the request body is too large", code="too_large")
            return error_response(exc.status, exc.reason, code=_http_code(exc.status))

    return middleware


def _domain(exc: TrainbotError) -> web.Response:
    # OpenAI answers every bad parameter with 400; Trainbot's Invalid is 422.
    status = 400 if exc.status == 422 else exc.status
    param = exc.param if isinstance(exc, OpenAIError) else None
    response = error_response(status, exc.message, code=exc.code, param=param)
    if isinstance(exc, TooMany | Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="trainbot"'
    return response


def _invalid(exc: ValidationError) -> web.Response:
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    first = problems[0] if problems else None
    param = ".".join(str(part) for part in first["loc"]) if first and first["loc"] else None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in problems
    )
    return error_response(400, message or "invalid request", code="invalid_value", param=param)


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
