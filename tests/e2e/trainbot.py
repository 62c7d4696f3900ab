"""A whole Trainbot (App with the Matrix face) against the session's Synapse."""

from __future__ import annotations

import io
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from nio import TypingNoticeEvent, UploadResponse

from bot.app import App
from bot.dev.homeserver import SynapseServer
from bot.settings import Settings
from tests.support.services import FAST

from .conftest import unique
from .helpers import Event, Person, invite_bot, make_room

PASSWORD = "correct horse battery staple"
STEP = re.compile(r"step (\d+)/(\d+)")


def trainbot_settings(
    synapse: SynapseServer,
    user_id: str,
    data_dir: Path,
    allowed: list[str],
    admins: list[str],
    **sections: dict[str, Any],
) -> Settings:
    """Settings for a bot account on the test homeserver, training the micro preset."""
    matrix = {
        "homeserver": synapse.base_url,
        "user_id": user_id,
        "password": PASSWORD,
        "store_dir": str(data_dir / "matrix"),
        "allowed_users": allowed,
        "admin_users": admins,
        "progress_interval_s": 1.0,
        **sections.pop("matrix", {}),
    }
    trainer = {"default_base": "micro", "stop_grace_s": 10, **sections.pop("trainer", {})}
    return Settings.model_validate(
        {
            "matrix": matrix,
            "http": {"enabled": False},
            "storage": {"data_dir": str(data_dir)},
            "trainer": trainer,
            **sections,
        }
    )


def hyper(**overrides: object) -> str:
    """`max_steps=30 batch_size=4 …`: the FAST hyperparameters as `!train` options."""
    return " ".join(f"{key}={value}" for key, value in {**FAST, **overrides}.items())


StartBot = Callable[..., Awaitable[tuple[App, str]]]


class Trainbots:
    """Starts Trainbots, each with its own bot account and data dir, and stops them all."""

    def __init__(self, synapse: SynapseServer, root: Path) -> None:
        self.synapse = synapse
        self.root = root
        self.apps: list[App] = []

    async def start(
        self, allowed: list[str], admins: list[str] | None = None, **sections: Any
    ) -> tuple[App, str]:
        """A running App logged in as a fresh bot account; (app, bot user id)."""
        user_id, _ = await self.synapse.register_user(unique("trainbot"), PASSWORD)
        data_dir = self.root / f"bot{len(self.apps)}"
        settings = trainbot_settings(
            self.synapse, user_id, data_dir, allowed, admins or [], **sections
        )
        return await self._start(App(settings)), user_id

    async def restart(self, app: App) -> App:
        """Stop `app` and start a new one with the same settings (and so the same data)."""
        await app.stop()
        return await self._start(App(app.settings))

    async def stop(self) -> None:
        """Stop every App started here (stopping twice is harmless)."""
        for app in self.apps:
            await app.stop()

    async def _start(self, app: App) -> App:
        self.apps.append(app)
        await app.start()
        return app


@pytest_asyncio.fixture(loop_scope="session")
async def trainbots(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[Trainbots]:
    """Trainbots for one test, stopped afterwards."""
    bots = Trainbots(synapse, tmp_path)
    yield bots
    await bots.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def start_trainbot(trainbots: Trainbots) -> StartBot:
    """Start a Trainbot for this test: `app, bot_id = await start_trainbot(allowed=[...])`."""
    return trainbots.start


class Room:
    """A room with a person and a running Trainbot, seen through the person's client.

    Everything the person syncs in the room is kept in `timeline` (and who was seen
    typing in `typing`), so waiting for one event never loses another.
    """

    def __init__(self, app: App | None, person: Person, room_id: str, bot_id: str) -> None:
        self.app = app
        self.person = person
        self.room_id = room_id
        self.bot_id = bot_id
        self.timeline: list[Event] = []
        self.typing: set[str] = set()
        self._claimed: set[str] = set()

    async def ask(self, body: str, **extra: Any) -> str:
        """Send a command; return its event id."""
        return await self.person.say(self.room_id, body, **extra)

    async def reply_to(self, event_id: str, within_s: float = 30.0) -> Event:
        """The bot's notice answering `event_id`."""
        return await self.wait(replies_to(event_id), within_s)

    async def answer(self, body: str, within_s: float = 30.0) -> str:
        """Send a command and return the plain body of the bot's reply."""
        reply = await self.reply_to(await self.ask(body), within_s)
        return str(reply["content"]["body"])

    async def wait(self, match: Callable[[Event], bool], within_s: float = 60.0) -> Event:
        """The first event matching `match` that no earlier `wait` returned (syncing on
        until one arrives)."""
        deadline = time.monotonic() + within_s
        while True:
            for event in self.timeline:
                if event.get("event_id") not in self._claimed and match(event):
                    self._claimed.add(str(event.get("event_id")))
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.person.user_id} saw no matching event in the room")
            await self.sync()

    async def wait_until_typing(self, user_id: str, within_s: float = 10.0) -> None:
        """Sync until the room's typing notice has listed `user_id`."""
        deadline = time.monotonic() + within_s
        while user_id not in self.typing:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.person.user_id} never saw {user_id} typing")
            await self.sync()

    async def sync(self, timeout_ms: int = 500) -> None:
        """One sync of the person's client; the room's new events join `timeline`."""
        room = (await self.person.sync(timeout_ms)).rooms.join.get(self.room_id)
        if room is None:
            return
        self.timeline.extend(dict(event.source) for event in room.timeline.events)
        for event in room.ephemeral:
            if isinstance(event, TypingNoticeEvent):
                self.typing.update(event.users)

    async def bot_messages(self) -> list[Event]:
        """Everything the bot sent to the room, oldest first (from the server's history)."""
        return await self.person.messages(self.room_id, self.bot_id)

    async def replies(self, event_id: str) -> list[Event]:
        """Every message of the bot that replies to `event_id` (from the server's history)."""
        return [e for e in await self.bot_messages() if replies_to(event_id)(e)]


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


def edit_of(
    event_id: str, check: Callable[[str], bool] = lambda _: True
) -> Callable[[Event], bool]:
    """Match an edit (m.replace) of `event_id` whose new body passes `check`."""
    return lambda e: (
        e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") == event_id
        and check(new_body(e))
    )


def new_body(edit: Event) -> str:
    """The body an edit replaces its message with."""
    return str(edit.get("content", {}).get("m.new_content", {}).get("body", ""))


def step(body: str) -> int | None:
    """The step a progress line shows (`… step 12/40 …`), if any."""
    found = STEP.search(body)
    return int(found[1]) if found else None


async def upload(room: Room, filename: str, data: bytes) -> str:
    """The person uploads a file to the room (m.file); its event id."""
    response, _ = await room.person.client.upload(
        io.BytesIO(data), "application/jsonl", filename, filesize=len(data)
    )
    assert isinstance(response, UploadResponse), response
    info = {"mimetype": "application/jsonl", "size": len(data)}
    return await room.ask(filename, msgtype="m.file", url=response.content_uri, info=info)


async def reply_with(room: Room, file_event: str, command: str) -> dict[str, Any]:
    """Answer the uploaded file with `command`; the content of the bot's reply."""
    relates_to = {"m.relates_to": {"m.in_reply_to": {"event_id": file_event}}}
    reply = await room.reply_to(await room.ask(command, **relates_to), 60)
    return dict(reply["content"])


async def open_room(app: App, person: Person, bot_id: str, **create: Any) -> Room:
    """`person` creates a room, invites the bot, and waits until it joined."""
    room_id = await make_room(person, **create)
    await invite_bot(person, room_id, bot_id)
    return Room(app, person, room_id, bot_id)


async def join(room: Room, other: Person) -> Room:
    """`other` is invited to the room and joins; the room as `other` sees it."""
    await room.person.client.room_invite(room.room_id, other.user_id)
    await other.client.join(room.room_id)
    return Room(room.app, other, room.room_id, room.bot_id)
