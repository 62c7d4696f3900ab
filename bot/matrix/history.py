"""What the bot has already seen: the sync token, handled events, when it joined rooms.

Together these make delivery at-most-once: a restart resumes from the stored token,
an event id that was handed to the app is never handed over again, and history from
before the bot joined a room is never acted on.
"""

from __future__ import annotations

import json
from collections import deque

from bot.matrix.types import StateStore

SYNC_TOKEN_KEY = "matrix.sync_token"
HANDLED_KEY = "matrix.handled_event_ids"
JOINED_KEY = "matrix.joined_at_ms"


class History:
    """Replay protection backed by a `StateStore`; call `load()` once before use."""

    def __init__(self, state: StateStore, remember: int = 1000) -> None:
        self._state = state
        self._handled: deque[str] = deque(maxlen=remember)
        self._handled_set: set[str] = set()
        self._joined_at: dict[str, int] = {}
        self.sync_token: str | None = None

    async def load(self) -> None:
        """Read the token, the recently handled event ids and the join times."""
        self.sync_token = await self._state.get(SYNC_TOKEN_KEY)
        for event_id in json.loads(await self._state.get(HANDLED_KEY) or "[]"):
            self._remember(str(event_id))
        self._joined_at = {
            str(room): int(ts)
            for room, ts in json.loads(await self._state.get(JOINED_KEY) or "{}").items()
        }

    async def save_sync_token(self, token: str) -> None:
        """Remember where the next sync (maybe after a restart) continues."""
        self.sync_token = token
        await self._state.set(SYNC_TOKEN_KEY, token)

    def is_handled(self, event_id: str) -> bool:
        """Whether the app was already given this event."""
        return event_id in self._handled_set

    async def mark_handled(self, event_id: str) -> None:
        """Persist before the app acts, so a crash can lose a command but never repeat one."""
        self._remember(event_id)
        await self._state.set(HANDLED_KEY, json.dumps(list(self._handled)))

    def joined_at(self, room_id: str) -> int | None:
        """The server timestamp (ms) of the bot's latest join to the room, if known."""
        return self._joined_at.get(room_id)

    async def set_joined_at(self, room_id: str, timestamp_ms: int) -> None:
        """Record a join; events older than it are history and are ignored."""
        self._joined_at[room_id] = timestamp_ms
        await self._state.set(JOINED_KEY, json.dumps(self._joined_at))

    def _remember(self, event_id: str) -> None:
        if len(self._handled) == self._handled.maxlen:
            self._handled_set.discard(self._handled[0])
        self._handled.append(event_id)
        self._handled_set.add(event_id)
