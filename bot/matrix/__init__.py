"""The Matrix connection layer: login, replay-safe sync, outbox, message formatting.

The app builds a `MatrixConnection` from plain values (`MatrixConfig`), gives it a
`StateStore` (storage.state.StateRepo) and an `on_message` callback, then sends through
`connection.outbox` with contents built by `bot.matrix.format`.
"""

from bot.matrix.connection import MatrixConnection, MatrixError, nio_config
from bot.matrix.login import MatrixLoginError
from bot.matrix.outbox import Outbox, OutboxError
from bot.matrix.rooms import is_allowed
from bot.matrix.types import IncomingMessage, MatrixConfig, MessageHandler, StateStore

__all__ = [
    "IncomingMessage",
    "MatrixConfig",
    "MatrixConnection",
    "MatrixError",
    "MatrixLoginError",
    "MessageHandler",
    "Outbox",
    "OutboxError",
    "StateStore",
    "is_allowed",
    "nio_config",
]
