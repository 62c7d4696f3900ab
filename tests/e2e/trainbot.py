"""A whole Trainbot (App with the Matrix face) against the session's Synapse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import App
from bot.devserver import SynapseServer
from bot.settings import Settings

from .helpers import Event, Person, invite_bot, make_room

PASSWORD = "correct horse battery staple"


def trainbot_settings(
    synapse: SynapseServer, user_id: str, data_dir: Path, allowed: list[str], admins: list[str],
    **sections: dict[str, Any],
) -> Settings:  # fmt: skip
    """Settings for a bot account on the test homeserver, training the micro preset."""
    matrix = {
        "homeserver": synapse.base_url, "user_id": user_id, "password": PASSWORD,
        "store_dir": str(data_dir / "matrix"), "allowed_users": allowed, "admin_users": admins,
        "progress_interval_s": 1.0, **sections.pop("matrix", {}),
    }  # fmt: skip
    trainer = {"default_base": "micro", "stop_grace_s": 10, **sections.pop("trainer", {})}
    return Settings(
        matrix=matrix,
        http={"enabled": False},
        storage={"data_dir": str(data_dir)},
        trainer=trainer,
        **sections,
    )


class Room:
    """A room with a person and a running Trainbot: say things, read the bot's answers."""

    def __init__(self, app: App, person: Person, room_id: str, bot_id: str) -> None:
        self.app = app
        self.person = person
        self.room_id = room_id
        self.bot_id = bot_id

    async def ask(self, body: str, **extra: Any) -> str:
        """Send a command; return its event id."""
        return await self.person.say(self.room_id, body, **extra)

    async def reply_to(self, event_id: str, within_s: float = 30.0) -> Event:
        """The bot's notice answering `event_id`."""
        return await self.person.wait_for(self.room_id, replies_to(event_id), within_s)

    async def wait(self, match: Callable[[Event], bool], within_s: float = 60.0) -> Event:
        """The next event in the room matching `match`."""
        return await self.person.wait_for(self.room_id, match, within_s)

    async def bot_messages(self) -> list[Event]:
        """Everything the bot sent to the room, oldest first."""
        return await self.person.messages(self.room_id, self.bot_id)


def replies_to(event_id: str) -> Callable[[Event], bool]:
    """Match a notice in reply to `event_id`."""
    return lambda e: (
        e.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        == event_id
    )


def notice_containing(text: str) -> Callable[[Event], bool]:
    """Match an m.notice (not an edit) whose body contains `text`."""
    return lambda e: (
        e.get("content", {}).get("msgtype") == "m.notice"
        and "m.new_content" not in e.get("content", {})
        and text in e.get("content", {}).get("body", "")
    )


async def open_room(app: App, person: Person, bot_id: str) -> Room:
    """`person` creates a room, invites the bot, and waits until it joined."""
    room_id = await make_room(person)
    await invite_bot(person, room_id, bot_id)
    return Room(app, person, room_id, bot_id)
