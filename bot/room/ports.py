"""What the room face needs from a chat transport (bot.matrix.transport implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.matrix.types import IncomingMessage


class Room(Protocol):
    """Sending into and reading from the rooms the bot is in; contents come from
    `bot.matrix.format`. Sends keep their order per room; the rest is fire-and-forget."""

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        """Send a message; its event id once the homeserver has it."""
        ...

    def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> None:
        """Replace an earlier message (queued; pending edits of it coalesce)."""
        ...

    def react(self, room_id: str, event_id: str, key: str) -> None:
        """Annotate a message with a reaction (queued; encrypted in an encrypted room)."""
        ...

    def unreact(self, room_id: str, event_id: str, key: str) -> None:
        """Take back the bot's own reaction `key` on a message (queued; redacted)."""
        ...

    def is_encrypted(self, room_id: str) -> bool:
        """Whether the room is end-to-end encrypted."""
        ...

    def typing(self, room_id: str, on: bool) -> None:
        """Show or clear the typing notice."""
        ...

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
        """Upload a PNG and post it (with `relates_to`: e.g. into a thread); its event id."""
        ...

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        """The bytes of a file someone uploaded (decrypted)."""
        ...

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        """An earlier message of the room (the file a command replies to)."""
        ...
