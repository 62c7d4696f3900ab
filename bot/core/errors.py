"""Errors people can cause, with a readable message and the HTTP status they map to.

Exactly two places translate them: the command dispatcher (a notice in the room) and
one aiohttp middleware (JSON `{"error": {"code", "message"}}`). A message names a chat
command as `` `!name` ``; the room shows its configured prefix there (`bot.room.text`).
"""

from __future__ import annotations


class TrainbotError(Exception):
    """Base of domain errors: `code` is stable for programs, `message` is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(TrainbotError):
    """The thing named does not exist."""

    status = 404
    code = "not_found"


class Conflict(TrainbotError):
    """The request is impossible in the current state (pause a finished job, …)."""

    status = 409
    code = "conflict"


class Invalid(TrainbotError):
    """The input is wrong; `details` carries row or field errors."""

    status = 422
    code = "invalid"


class Forbidden(TrainbotError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class TooMany(TrainbotError):
    """A limit is reached; retry after `retry_after` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(TrainbotError):
    """A needed part is not configured or not running."""

    status = 503
    code = "unavailable"
