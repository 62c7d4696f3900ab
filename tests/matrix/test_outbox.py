"""The outbox keeps sending when a caller stops waiting for its message."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nio import AsyncClient, RoomSendResponse

from bot.matrix.outbox import Outbox


class Homeserver(AsyncClient):  # type: ignore[misc]  # nio is untyped
    """A nio client whose sends are answered by the test: each waits for `release`."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "@bot:test")
        self.sent: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def room_send(
        self, room_id: str, message_type: str, content: dict[str, Any], **_: Any
    ) -> RoomSendResponse:
        await self.release.wait()
        self.sent.append(content)
        return RoomSendResponse(f"$event{len(self.sent)}", room_id)


async def test_a_cancelled_waiter_neither_breaks_the_worker_nor_the_next_send() -> None:
    homeserver = Homeserver()
    outbox = Outbox(homeserver)
    first = outbox.send("!room", {"body": "first"})
    await asyncio.sleep(0)  # the worker takes it: in flight
    # A caller that gives up (wait_for timing out) cancels the future it waited on.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(first, timeout=0)
    second = outbox.send("!room", {"body": "second"})
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    homeserver.release.set()

    await outbox.close()  # lets the worker drain the queue, then stops it
    await homeserver.close()

    assert ["first", "second"] == [c["body"] for c in homeserver.sent]  # never dropped
    assert (True, "$event2") == (first.cancelled(), second.result())
    assert [] == errors
