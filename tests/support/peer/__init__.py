"""A second, independent Matrix client for e2e tests: mautrix-python with its own crypto.

The bot is written on matrix-nio (+ vodozemac); checking it only with nio would let a bug
shared by both ends pass. `Peer` is a person on mautrix-python, whose `OlmMachine`
(python-olm / libolm) encrypts, decrypts, and judges the trust of each sender's device
from the cross-signing keys it fetches itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mautrix.client import Client
from mautrix.client.state_store.memory import MemoryStateStore
from mautrix.crypto import OlmMachine
from mautrix.crypto import StateStore as CryptoStateStore
from mautrix.crypto.store.memory import MemoryCryptoStore
from mautrix.types import (
    Event,
    EventType,
    Membership,
    RoomID,
    TrustState,
    UserID,
)
from mautrix.util.logging import TraceLogger

MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}


@dataclass(frozen=True)
class Seen:
    """An event the peer received: `wire_type` as the server had it (m.room.encrypted for
    encrypted ones), `type`/`content` after decryption, and the sender's trust state."""

    event_id: str
    sender: str
    wire_type: str
    type: str
    content: dict[str, Any]
    trust: TrustState | None
    redacts: str | None = None


class PeerStateStore(MemoryStateStore, CryptoStateStore):
    """mautrix's in-memory room state, plus the one question its crypto asks of it."""

    async def find_shared_rooms(self, user_id: UserID) -> list[RoomID]:
        return [
            room_id
            for room_id, members in self.members.items()
            if user_id in members and members[user_id].membership == Membership.JOIN
        ]


class Peer:
    """A logged-in mautrix client with E2EE, syncing in the background."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.user_id = str(client.mxid)
        self.seen: list[Seen] = []
        self._raw_types: dict[str, str] = {}
        self._sync: asyncio.Future[None] | None = None
        client.add_event_handler(EventType.ALL, self._on_event)

    @classmethod
    async def login(cls, base_url: str, user_id: str, password: str) -> Peer:
        # mautrix logs through its TraceLogger (`log.silly`), installed as the logger class
        # when it is imported; the bot's structlog setup (LoggerFactory) installs its own
        # class since, so loggers mautrix creates from here on would lack `silly`.
        logging.setLoggerClass(TraceLogger)
        state = PeerStateStore()
        client = Client(mxid=UserID(user_id), base_url=base_url, state_store=state)
        await client.login(identifier=UserID(user_id), password=password)
        crypto_store = MemoryCryptoStore(account_id=user_id, pickle_key="peer")
        await crypto_store.put_device_id(client.device_id)
        machine = OlmMachine(client, crypto_store, state)
        # Encrypt for devices nobody verified, as Element does by default.
        machine.send_keys_min_trust = TrustState.UNVERIFIED
        client.crypto = machine
        await machine.load()
        await machine.share_keys()
        return cls(client)

    def start(self) -> None:
        """Sync in the background; every event lands in `seen`."""
        self._sync = self.client.start(None)

    async def close(self) -> None:
        self.client.stop()
        if self._sync is not None:
            await asyncio.gather(self._sync, return_exceptions=True)
        await self.client.api.session.close()

    async def create_encrypted_room(self, *invitees: str) -> str:
        room_id = await self.client.create_room(
            invitees=[UserID(u) for u in invitees],
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": MEGOLM}],
        )
        return str(room_id)

    async def create_room(self, *invitees: str) -> str:
        return str(await self.client.create_room(invitees=[UserID(u) for u in invitees]))

    async def send_text(self, room_id: str, body: str, *, encrypted: bool = True) -> str:
        """Send an m.text; encrypted when the room is, unless `encrypted` is false."""
        content = {"msgtype": "m.text", "body": body}
        event_id = await self.client.send_message_event(
            RoomID(room_id), EventType.ROOM_MESSAGE, content, disable_encryption=not encrypted
        )
        return str(event_id)

    async def wait(self, match: Callable[[Seen], bool], within_s: float = 30.0) -> Seen:
        """The first event seen (now or later) that matches."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for seen in self.seen:
                if match(seen):
                    return seen
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.user_id} saw no matching event; saw {self.seen}")

    async def device_trust(self, user_id: str, device_id: str) -> TrustState:
        """How this client's crypto judges another user's device (cross-signing included)."""
        machine = self.client.crypto
        assert machine is not None
        device = await machine.get_or_fetch_device(UserID(user_id), device_id)
        assert device is not None, f"{user_id} has no device {device_id}"
        return await machine.resolve_trust(device)

    async def _on_event(self, event: Event) -> None:
        event_id = str(getattr(event, "event_id", "") or "")
        if not event_id:
            return
        event_type = str(event.type)
        if event_type == "m.room.encrypted":
            self._raw_types[event_id] = event_type
            return  # its decrypted twin follows
        info = event.get("mautrix", {}) if hasattr(event, "get") else {}
        content = event.content.serialize() if hasattr(event.content, "serialize") else {}
        self.seen.append(
            Seen(
                event_id=event_id,
                sender=str(event.sender),
                wire_type=self._raw_types.get(event_id, event_type),
                type=event_type,
                content=dict(content),
                trust=info.get("trust_state") if isinstance(info, dict) else None,
                redacts=str(getattr(event, "redacts", None) or content.get("redacts") or "")
                or None,
            )
        )
