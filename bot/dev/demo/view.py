"""`RoomView`: the demo user's side of the room — send messages, see and await events."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import aiohttp
from nio import AsyncClient, RoomSendResponse, SyncResponse

from bot.dev.demo.render import Event, render_event
from bot.dev.demo.state import DemoSetupError

# Short polls keep the terminal lively and let Ctrl-D stop the demo within a second.
POLL_MS = 1000

Write = Callable[[str], None]


class RoomView:
    """Syncs a logged-in client in the background and prints what happens in one room.

    Messages this client sent itself are not printed again (the person typed them);
    everything else — replies, progress edits, images, reactions, other clients — is.
    """

    def __init__(self, client: AsyncClient, room_id: str, write: Write = print) -> None:
        self.client = client
        self.room_id = room_id
        self.events: list[Event] = []
        self._write = write
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Skip the room's history, then follow it from now on."""
        response = await self.client.sync(timeout=0)
        if not isinstance(response, SyncResponse):
            raise DemoSetupError(f"the demo user's first sync failed: {response}")
        self._task = asyncio.create_task(self._follow(), name="demo-room-view")

    async def stop(self) -> None:
        """Stop following (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def knows_member(self, user_id: str, within_s: float) -> None:
        """Return once this client's own sync shows `user_id` in the room and it knows
        their devices: in an encrypted room the first message is then readable to them."""
        deadline = time.monotonic() + within_s
        while user_id not in getattr(self.client.rooms.get(self.room_id), "users", {}):
            if time.monotonic() > deadline:
                raise DemoSetupError(f"{user_id} is not in the room as this client sees it")
            await asyncio.sleep(0.2)
        if self.client.olm is not None and self.client.should_query_keys:
            await self.client.keys_query()

    async def say(self, body: str) -> str:
        """Send an m.text as the demo user; return its event id."""
        content = {"msgtype": "m.text", "body": body}
        # The demo trusts every device in its own room, as a person clicking through would.
        response = await self.client.room_send(
            self.room_id,
            "m.room.message",
            content,
            tx_id=uuid.uuid4().hex,
            ignore_unverified_devices=True,
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"sending {body!r} failed: {response}")
        return str(response.event_id)

    async def wait_for(self, match: Callable[[Event], bool], within_s: float) -> Event:
        """The first event (seen so far or arriving within `within_s`) that matches."""
        deadline = time.monotonic() + within_s
        async with self._arrived:
            while True:
                found = next((e for e in self.events if match(e)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)

    async def _follow(self) -> None:
        while True:
            try:
                await self._sync(timeout_ms=POLL_MS)
            except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                # A hiccup (e.g. the homeserver restarting): the next poll retries.
                self._write(f"(sync failed: {exc!r}; retrying)")
                await asyncio.sleep(1)

    async def _sync(self, timeout_ms: int) -> None:
        response = await self.client.sync(timeout=timeout_ms)
        if not isinstance(response, SyncResponse):
            await asyncio.sleep(1)
            return
        room = response.rooms.join.get(self.room_id)
        fresh = [dict(e.source) for e in room.timeline.events] if room else []
        for event in fresh:
            if not _sent_here(event):
                line = render_event(event)
                if line is not None:
                    self._write(line)
        async with self._arrived:
            self.events.extend(fresh)
            self._arrived.notify_all()


def _sent_here(event: Event) -> bool:
    # Only the sending device sees its transaction id on the event.
    return "transaction_id" in (event.get("unsigned") or {})
