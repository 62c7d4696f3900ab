"""The one edit-in-place mechanism: a message per subject, edited, and one final notice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.matrix.types import IncomingMessage
from bot.room.follow import EditInPlace
from bot.room.origin import Origin, Origins

ROOM = Origin("!r")  # a job queued over HTTP: no command, no thread, nobody to ping


class FakeRoom:
    """Records what the room face would send; event ids are `$1`, `$2`, …."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.contents: list[dict[str, Any]] = []
        self.edits: list[tuple[str, str]] = []
        self.reactions: list[tuple[str, str, str]] = []

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        self.sent.append((room_id, content["body"]))
        self.contents.append(content)
        return f"${len(self.sent)}"

    def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> None:
        self.edits.append((event_id, content["body"]))

    def react(self, room_id: str, event_id: str, key: str) -> None:
        self.reactions.append(("react", event_id, key))

    def unreact(self, room_id: str, event_id: str, key: str) -> None:
        self.reactions.append(("unreact", event_id, key))

    def is_encrypted(self, room_id: str) -> bool:
        return False

    def typing(self, room_id: str, on: bool) -> None:
        raise AssertionError("not used")

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
        raise AssertionError("not used")

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        raise AssertionError("not used")

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        raise AssertionError("not used")


class MemoryState:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value


async def test_the_message_is_sent_once_then_edited_even_after_a_restart() -> None:
    room, state = FakeRoom(), MemoryState()
    await EditInPlace(room, state).show(ROOM, "task.a", "1/4 done")
    await EditInPlace(room, state).show(ROOM, "task.a", "2/4 done")  # a new process
    assert [("!r", "1/4 done")] == room.sent
    assert [("$1", "2/4 done")] == room.edits


async def test_the_final_notice_is_sent_once() -> None:
    room, state = FakeRoom(), MemoryState()
    assert await EditInPlace(room, state).finish(ROOM, "job.a", "✅ done")
    assert not await EditInPlace(room, state).finish(ROOM, "job.a", "✅ done")
    assert [("!r", "✅ done")] == room.sent


async def test_subjects_have_their_own_messages() -> None:
    room, state = FakeRoom(), MemoryState()
    messages = EditInPlace(room, state)
    assert not await messages.has_message("job.a")
    await messages.show(ROOM, "job.a", "job a")
    await messages.show(ROOM, "task.a", "task a")
    assert await messages.has_message("job.a")
    assert [("!r", "job a"), ("!r", "task a")] == room.sent


ALICE_IN_THREAD = Origin("!r", "$cmd", "@alice:example.org", "$root", acknowledged=True)


async def test_a_job_started_in_a_thread_keeps_its_messages_there() -> None:
    room, state = FakeRoom(), MemoryState()
    messages = EditInPlace(room, state)

    await messages.show(ALICE_IN_THREAD, "job.a", "step 1/2")
    await messages.finish(ALICE_IN_THREAD, "job.a", "✅ done")

    progress, final = room.contents
    assert {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$cmd"},
    } == progress["m.relates_to"]
    assert {"user_ids": []} == progress["m.mentions"]
    assert {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": False,
        "m.in_reply_to": {"event_id": "$cmd"},
    } == final["m.relates_to"]


async def test_the_final_notice_pings_who_asked_and_swaps_the_reaction() -> None:
    room, state = FakeRoom(), MemoryState()
    asked = Origin("!r", "$cmd", "@alice:example.org", acknowledged=True)

    await EditInPlace(room, state).finish(asked, "job.a", "❌ Job a failed: boom", ok=False)

    (final,) = room.contents
    assert {"user_ids": ["@alice:example.org"]} == final["m.mentions"]
    assert "alice: ❌ Job a failed: boom" == final["body"]
    assert 'href="https://matrix.to/#/@alice:example.org"' in final["formatted_body"]
    assert {"m.in_reply_to": {"event_id": "$cmd"}} == final["m.relates_to"]
    assert [("unreact", "$cmd", "⏳"), ("react", "$cmd", "❌")] == room.reactions


async def test_a_job_nobody_in_the_room_asked_for_pings_nobody() -> None:
    room, state = FakeRoom(), MemoryState()
    from_api = Origin("!r", sender="api:ci")

    await EditInPlace(room, state).finish(from_api, "job.a", "✅ done")

    (final,) = room.contents
    assert {"user_ids": []} == final["m.mentions"]
    assert "✅ done" == final["body"]
    assert "m.relates_to" not in final
    assert [] == room.reactions


async def test_an_origin_survives_a_restart() -> None:
    state = MemoryState()
    before = Origins(state)
    before.remember("task.t", ALICE_IN_THREAD)
    await before.save("task.t")

    assert ALICE_IN_THREAD == await Origins(state).get("task.t")
    assert await Origins(state).get("task.other") is None
