"""`MatrixTransport`: the rooms as the app sees them — send, edit, react, upload, fetch.

A thin layer over one `MatrixConnection`: every send goes through its outbox (in order
per room, retried on rate limits); it has the shape of `bot.room.ports.Room`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.matrix import format as fmt
from bot.matrix.connection import MatrixConnection
from bot.matrix.types import IncomingMessage


class MatrixTransport:
    """Sends and fetches room events through one connection."""

    def __init__(self, connection: MatrixConnection) -> None:
        self.connection = connection

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        """Send through the outbox (in order, retried on rate limits); the event id."""
        return await self.connection.outbox.send(room_id, content)

    def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> None:
        """Queue an edit; pending edits of the same message coalesce."""
        self.connection.outbox.edit(room_id, event_id, content)

    def react(self, room_id: str, event_id: str, key: str) -> None:
        """Queue a reaction (encrypted in an encrypted room when E2EE is on)."""
        self.connection.outbox.react(room_id, event_id, key)

    def unreact(self, room_id: str, event_id: str, key: str) -> None:
        """Queue the redaction of the bot's own reaction `key` on `event_id` (one sent
        before a restart is looked up on the server first)."""
        self.connection.outbox.unreact(room_id, event_id, key)

    def is_encrypted(self, room_id: str) -> bool:
        """Whether the room has end-to-end encryption enabled."""
        return self.connection.plaintext.is_encrypted(room_id)

    def typing(self, room_id: str, on: bool) -> None:
        """Show or clear the typing notice."""
        self.connection.outbox.typing(room_id, on)

    async def send_image(
        self,
        room_id: str,
        png: bytes,
        filename: str,
        *,
        width: int,
        height: int,
        relates_to: dict[str, Any] | None = None,
    ) -> str:
        """Upload a PNG and post it, with `relates_to` as its `m.relates_to` (e.g. a thread);
        with E2EE on, in an encrypted room the file is encrypted too."""
        encrypt = self.connection.e2ee and self.is_encrypted(room_id)
        url, keys = await self.connection.outbox.upload_image(png, filename, encrypt=encrypt)
        content = fmt.image(url, filename, width=width, height=height, size=len(png), keys=keys)
        if relates_to is not None:
            content["m.relates_to"] = relates_to
        return await self.send(room_id, content)

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        """Download (and decrypt) a file someone uploaded."""
        return await self.connection.download(url, file_info)

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        """An earlier message of the room (the file a command replies to)."""
        return await self.connection.fetch_event(room_id, event_id)
