"""The outbox keeps sending when a caller stops waiting for its message."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nio import AsyncClient, RoomRedactResponse, RoomSendResponse

from bot.matrix.outbox import Outbox


class Homeserver(AsyncClient):  # type: ignore[misc]  # nio is untyped
    """A nio client whose sends are answered by the test: each waits for `release`."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "@bot:test")
        self.sent: list[dict[str, Any]] = []
        self.redacted: list[str] = []
        self.release = asyncio.Event()

    async def room_send(
        self, room_id: str, message_type: str, content: dict[str, Any], **_: Any
    ) -> RoomSendResponse:
        await self.release.wait()
        self.sent.append(content)
        return RoomSendResponse(f"$event{len(self.sent)}", room_id)

    async def room_redact(self, room_id: str, event_id: str, **_: Any) -> RoomRedactResponse:
        self.redacted.append(event_id)
        return RoomRedactResponse(f"$redaction{len(self.redacted)}", room_id)


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


async def test_unreact_redacts_a_sent_reaction_and_drops_a_queued_one() -> None:
    homeserver = Homeserver()
    outbox = Outbox(homeserver)
    homeserver.release.set()
    sent = outbox.react("!room", "$cmd1", "⏳")
    await sent
    outbox.unreact("!room", "$cmd1", "⏳")
    homeserver.release.clear()
    outbox.send("!room", {"body": "busy"})  # holds the queue while the next two wait
    queued = outbox.react("!room", "$cmd2", "⏳")
    dropped = outbox.unreact("!room", "$cmd2", "⏳")
    unknown = outbox.unreact("!room", "$cmd3", "⏳")
    homeserver.release.set()

    await outbox.close()
    await homeserver.close()

    keys = [c["m.relates_to"]["event_id"] for c in homeserver.sent if "m.relates_to" in c]
    assert (["$cmd1"], [sent.result()]) == (keys, homeserver.redacted)
    # Never sent by this outbox: looked up on the server (unreachable here), nothing found.
    assert unknown is not None
    assert (True, None, "") == (queued.cancelled(), dropped, unknown.result())
