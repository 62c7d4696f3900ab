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
        """Queue a reaction."""
        self.connection.outbox.react(room_id, event_id, key)

    def typing(self, room_id: str, on: bool) -> None:
        """Show or clear the typing notice."""
        self.connection.outbox.typing(room_id, on)

    async def send_image(
        self, room_id: str, png: bytes, filename: str, *, width: int, height: int
    ) -> str:
        """Upload a PNG and post it; in an encrypted room the file is encrypted too."""
        room = self.connection.client.rooms.get(room_id)
        encrypt = bool(room is not None and room.encrypted)
        url, keys = await self.connection.outbox.upload_image(png, filename, encrypt=encrypt)
        content = fmt.image(url, filename, width=width, height=height, size=len(png), keys=keys)
        return await self.send(room_id, content)

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        """Download (and decrypt) a file someone uploaded."""
        return await self.connection.download(url, file_info)

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        """An earlier message of the room (the file a command replies to)."""
        return await self.connection.fetch_event(room_id, event_id)
