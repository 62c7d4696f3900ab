"""Helpers for e2e tests: people (plain nio clients) who talk in rooms."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nio import AsyncClient, LoginResponse, RoomCreateResponse, SyncResponse, TypingNoticeEvent

Event = dict[str, Any]


class Person:
    """A human in the transcript: a logged-in nio client with small helpers."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.user_id: str = client.user_id

    async def say(self, room_id: str, body: str, **extra: Any) -> str:
        """Send an m.text and return its event id."""
        content = {"msgtype": "m.text", "body": body, **extra}
        response = await self.client.room_send(room_id, "m.room.message", content)
        return str(response.event_id)

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        response = await self.client.sync(timeout=timeout_ms)
        assert isinstance(response, SyncResponse), response
        return response

    async def wait_for(
        self, room_id: str, match: Callable[[Event], bool], within_s: float = 15.0
    ) -> Event:
        """Sync until an event (raw dict, decrypted if needed) in `room_id` matches."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            response = await self.sync(timeout_ms=500)
            room = response.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if match(event.source):
                    return dict(event.source)
        raise AssertionError(f"{self.user_id} saw no matching event in {room_id}")

    async def messages(
        self, room_id: str, sender: str, event_type: str = "m.room.message"
    ) -> list[Event]:
        """Every event of a type `sender` sent to the room, oldest first (via /messages)."""
        response = await self.client.room_messages(room_id, start="", limit=500)
        events = [e.source for e in reversed(response.chunk)]
        return [e for e in events if e["sender"] == sender and e["type"] == event_type]

    async def wait_until_typing(self, room_id: str, user_id: str, within_s: float = 10.0) -> None:
        """Sync until the room's typing notice lists `user_id`."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            room = (await self.sync(timeout_ms=500)).rooms.join.get(room_id)
            for event in room.ephemeral if room else []:
                if isinstance(event, TypingNoticeEvent) and user_id in event.users:
                    return
        raise AssertionError(f"{self.user_id} never saw {user_id} typing in {room_id}")


def body_is(text: str) -> Callable[[Event], bool]:
    """Match an m.room.message whose body is exactly `text`."""
    return lambda event: event.get("content", {}).get("body") == text


async def login(base_url: str, user_id: str, password: str, **kwargs: Any) -> AsyncClient:
    """A nio client logged in with a password (a new device each time)."""
    client = AsyncClient(base_url, user_id, **kwargs)
    response = await client.login(password, device_name="e2e-test")
    assert isinstance(response, LoginResponse), response
    return client


async def make_room(owner: Person, *members: Person, **create: Any) -> str:
    """`owner` creates a room and invites `members`, who accept."""
    response = await owner.client.room_create(**create)
    assert isinstance(response, RoomCreateResponse), response
    for member in members:
        await owner.client.room_invite(response.room_id, member.user_id)
        joined = await member.client.join(response.room_id)
        assert getattr(joined, "room_id", None) == response.room_id, joined
    return str(response.room_id)


def is_membership(user_id: str, membership: str) -> Callable[[Event], bool]:
    """Match the m.room.member event that gives `user_id` this membership."""
    return lambda event: (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user_id
        and event.get("content", {}).get("membership") == membership
    )


async def invite_bot(person: Person, room_id: str, bot_user_id: str) -> None:
    """`person` invites the bot and waits until it has joined."""
    await person.client.room_invite(room_id, bot_user_id)
    await person.wait_for(room_id, is_membership(bot_user_id, "join"))
