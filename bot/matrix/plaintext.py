"""Encrypted rooms while the bot's E2EE is off: say so, once per room, in plaintext.

Without E2EE the bot cannot read encrypted messages and its answers go out unencrypted.
Silence would look like a dead bot, and an unannounced cleartext answer would leak what
the room meant to keep private; so the first encrypted message, or the first command, in
an encrypted room gets a notice saying what is going on and what the operator can do.
"""

from __future__ import annotations

import json

from nio import AsyncClient

from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.outbox import Outbox
from bot.matrix.types import StateStore

log = get_logger(__name__)
NOTED_KEY = "matrix.e2ee_off_noted_rooms"
E2EE_OFF_NOTE = (
    "This room is end-to-end encrypted, but my encryption is off, so I can't read "
    "encrypted messages here and my answers here are NOT encrypted. The bot's operator "
    "can turn encryption on (matrix.e2ee = true, with the e2e extra installed); until "
    "then, use an unencrypted room for anything private."
)


class PlaintextRooms:
    """Remembers (in the state store) which encrypted rooms were told; call `load()` first."""

    def __init__(self, client: AsyncClient, outbox: Outbox, state: StateStore) -> None:
        self._client = client
        self._outbox = outbox
        self._state = state
        self._noted: list[str] = []

    async def load(self) -> None:
        """Read the rooms told before a restart."""
        self._noted = [str(r) for r in json.loads(await self._state.get(NOTED_KEY) or "[]")]

    def is_encrypted(self, room_id: str) -> bool:
        """Whether the room has encryption enabled (from its m.room.encryption state)."""
        room = self._client.rooms.get(room_id)
        return bool(room is not None and room.encrypted)

    async def note_once(self, room_id: str, sender: str) -> None:
        """Queue the notice unless this room already had it; queued before any answer,
        so it arrives first (the outbox keeps a room's order)."""
        if room_id in self._noted:
            return
        self._noted.append(room_id)
        await self._state.set(NOTED_KEY, json.dumps(self._noted))
        log.warning("matrix_encrypted_room_without_e2ee", room_id=room_id)
        self._outbox.send(room_id, fmt.notice(f"{sender}: {E2EE_OFF_NOTE}", mentions=[sender]))
