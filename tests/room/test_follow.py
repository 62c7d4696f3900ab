"""The one edit-in-place mechanism: a message per subject, edited, and one final notice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.matrix.types import IncomingMessage
from bot.room.follow import EditInPlace


class FakeRoom:
    """Records what the room face would send; event ids are `$1`, `$2`, …."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.edits: list[tuple[str, str]] = []

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        self.sent.append((room_id, content["body"]))
        return f"${len(self.sent)}"

    def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> None:
        self.edits.append((event_id, content["body"]))

    def react(self, room_id: str, event_id: str, key: str) -> None:
        raise AssertionError("not used")

    def typing(self, room_id: str, on: bool) -> None:
        raise AssertionError("not used")

    async def send_image(
        self, room_id: str, png: bytes, filename: str, *, width: int, height: int
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
    await EditInPlace(room, state).show("!r", "task.a", "1/4 done")
    await EditInPlace(room, state).show("!r", "task.a", "2/4 done")  # a new process
    assert [("!r", "1/4 done")] == room.sent
    assert [("$1", "2/4 done")] == room.edits


async def test_the_final_notice_is_sent_once() -> None:
    room, state = FakeRoom(), MemoryState()
    assert await EditInPlace(room, state).finish("!r", "job.a", "✅ done")
    assert not await EditInPlace(room, state).finish("!r", "job.a", "✅ done")
    assert [("!r", "✅ done")] == room.sent


async def test_subjects_have_their_own_messages() -> None:
    room, state = FakeRoom(), MemoryState()
    messages = EditInPlace(room, state)
    assert not await messages.has_message("job.a")
    await messages.show("!r", "job.a", "job a")
    await messages.show("!r", "task.a", "task a")
    assert await messages.has_message("job.a")
    assert [("!r", "job a"), ("!r", "task a")] == room.sent
