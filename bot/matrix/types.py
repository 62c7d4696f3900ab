"""The small vocabulary the rest of the app uses to talk to the Matrix layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol


class StateStore(Protocol):
    """Durable string key/value state (storage.state.StateRepo has this shape)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class MatrixConfig:
    """Plain connection settings; `bot.room.face` fills them from the `[matrix]` settings.

    `allowed_users` holds MXID globs (fnmatch): their invites are accepted (others are
    rejected; an empty list rejects every invite) and, with e2ee, their devices trusted.
    `e2ee` "auto" means on when the e2e extra is installed (`bot.matrix.crypto.e2ee_enabled`).
    `cross_signing` (with e2ee): "auto" creates the account's cross-signing keys when it
    has none and signs the bot's device; "replace" also replaces keys that are not the
    bot's own (the documented reset); "off" leaves cross-signing alone.
    """

    homeserver: str
    user_id: str
    store_dir: Path
    password: str | None = None
    access_token: str | None = None
    device_name: str = "trainbot"
    e2ee: bool | Literal["auto"] = False
    cross_signing: Literal["auto", "replace", "off"] = "auto"
    allowed_users: Sequence[str] = ()
    leave_when_alone: bool = False
    sync_timeout_ms: int = 30_000
    max_backoff_s: float = 30.0


@dataclass(frozen=True)
class IncomingMessage:
    """A text message or file upload someone sent to a room the bot is in.

    `kind` is "text" (m.text) or "file" (m.file). For files, `url` is the mxc:// URI
    and `file_info` the decryption info of an encrypted attachment (pass both to
    `MatrixConnection.download`). `thread_root` is set when the message is in a
    thread, `reply_to` when it replies to another event. `replaces` is set on an edit:
    the id of the message it replaces, with `body` (and `content`) the edit's new content.
    """

    room_id: str
    event_id: str
    sender: str
    kind: Literal["text", "file"]
    body: str
    timestamp_ms: int
    thread_root: str | None = None
    reply_to: str | None = None
    replaces: str | None = None
    url: str | None = None
    filename: str | None = None
    mimetype: str | None = None
    size: int | None = None
    file_info: Mapping[str, Any] | None = None
    encrypted: bool = False
    content: Mapping[str, Any] = field(default_factory=dict, repr=False)


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]
