"""HTTP-only errors and the one JSON error shape."""

from __future__ import annotations

from typing import Any

from bot.core.errors import TrainbotError


class Unauthorized(TrainbotError):
    """No valid credentials; answered with a WWW-Authenticate challenge."""

    status = 401
    code = "unauthorized"


class TooLarge(TrainbotError):
    """The request body is over `http.max_body_mb`."""

    status = 413
    code = "too_large"


class Busy(TrainbotError):
    """The service is at a capacity limit; answered with 503 and Retry-After."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_body(code: str, message: str, details: object = None, **extra: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message, **extra}
    if details is not None:
        error["details"] = details
    return {"error": error}
