"""Ordered, rate-limit-aware sending: one queue and one worker task per room."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nio import AsyncClient, ErrorResponse, RoomRedactResponse, RoomSendResponse, UploadResponse

from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.encrypted import find_own_reaction, send_encrypted, send_plain, should_encrypt

log = get_logger(__name__)
# Connection trouble that is worth retrying: the homeserver restarts, the network blips.
TRANSIENT_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)
# Reactions remembered for `unreact`: far more than commands in flight at once.
REMEMBERED_REACTIONS = 1000


class OutboxError(RuntimeError):
    """The homeserver refused a message for good (e.g. M_FORBIDDEN); it will not be retried."""


@dataclass(eq=False)  # compared by identity: two equal reactions are still two sends
class _Pending:
    event_type: str
    content: dict[str, Any]
    future: asyncio.Future[str]
    edit_of: str | None = None
    # A redaction's target: the future of the bot's own reaction it takes back, or
    # (event id, key) of a reaction sent before a restart, looked up on the server.
    redacts: asyncio.Future[str] | None = None
    lookup: tuple[str, str] | None = None
    plaintext: bool = False
    # One transaction id for all attempts: a retry of a send that did arrive is a no-op.
    txn_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Outbox:
    """Sends room events in order, per room, and never drops a send.

    Every method returns a future of the new event id. On M_LIMIT_EXCEEDED it waits as
    long as the server asks; on network or 5xx errors it retries with capped exponential
    backoff. Edits of the same event that are still queued coalesce: only the newest
    content is sent, and every caller's future resolves with that edit's event id.
    The nio client must not retry on its own (see `bot.matrix.connection.nio_config`).
    """

    def __init__(self, client: AsyncClient, *, max_backoff_s: float = 30.0) -> None:
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._queues: dict[str, deque[_Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()
        # (room, event, key) -> the bot's reaction, so `unreact` knows what to redact.
        self._reactions: dict[tuple[str, str, str], _Pending] = {}
        self.rate_limited = 0  # 429s met so far, for metrics and tests

    def send(
        self, room_id: str, content: dict[str, Any], *, plaintext: bool = False
    ) -> asyncio.Future[str]:
        """Queue an m.room.message; encrypted in an encrypted room when E2EE is on, unless
        `plaintext` (for what must be readable even when keys are broken)."""
        pending = _Pending("m.room.message", content, self._future(), plaintext=plaintext)
        return self._enqueue(room_id, pending)

    def edit(self, room_id: str, event_id: str, new_content: dict[str, Any]) -> asyncio.Future[str]:
        """Queue a replacement of `event_id`, folding into a queued edit of it if any."""
        for pending in self._queues.get(room_id, ()):
            if pending.edit_of == event_id:
                pending.content = fmt.edit(event_id, new_content)
                return pending.future
        content = fmt.edit(event_id, new_content)
        pending = _Pending("m.room.message", content, self._future(), edit_of=event_id)
        return self._enqueue(room_id, pending)

    def react(self, room_id: str, event_id: str, key: str) -> asyncio.Future[str]:
        """Queue a reaction (e.g. ✅ on a command that is done); encrypted in an encrypted
        room when E2EE is on."""
        pending = _Pending("m.reaction", fmt.reaction(event_id, key), self._future())
        self._reactions[(room_id, event_id, key)] = pending
        if len(self._reactions) > REMEMBERED_REACTIONS:
            del self._reactions[next(iter(self._reactions))]  # the oldest
        return self._enqueue(room_id, pending)

    def unreact(self, room_id: str, event_id: str, key: str) -> asyncio.Future[str] | None:
        """Take back the bot's reaction `key` on `event_id` (a redaction, queued after it);
        a reaction still waiting in the queue is simply dropped (None). One this process
        did not send (before a restart) is looked up on the server; the future's result is
        "" when there was nothing to take back."""
        reaction = self._reactions.pop((room_id, event_id, key), None)
        if reaction is None:
            pending = _Pending("m.room.redaction", {}, self._future(), lookup=(event_id, key))
            return self._enqueue(room_id, pending)
        queue = self._queues.get(room_id, deque())
        if reaction in queue:
            queue.remove(reaction)
            reaction.future.cancel()
            return None
        pending = _Pending("m.room.redaction", {}, self._future(), redacts=reaction.future)
        return self._enqueue(room_id, pending)

    async def upload_image(
        self, png_bytes: bytes, filename: str, *, encrypt: bool = False
    ) -> tuple[str, dict[str, Any] | None]:
        """Upload a PNG to the media repository: its mxc:// URI, and with `encrypt` the
        keys to decrypt it (the server then only stores ciphertext)."""
        attempt = 0
        while True:
            try:
                response, keys = await self._client.upload(
                    io.BytesIO(png_bytes),
                    "image/png",
                    filename,
                    encrypt=encrypt,
                    filesize=len(png_bytes),
                )
                if isinstance(response, UploadResponse):
                    return str(response.content_uri), dict(keys) if keys else None
                delay = self._retry_delay(response, attempt)
            except TRANSIENT_ERRORS:
                delay = self._backoff(attempt)
            attempt += 1
            await asyncio.sleep(delay)

    def typing(self, room_id: str, on: bool, timeout_ms: int = 30_000) -> None:
        """Show or hide the typing notice; best effort, never queued behind messages."""
        task = asyncio.create_task(self._client.room_typing(room_id, on, timeout_ms))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def pending(self, room_id: str) -> int:
        """Queued events for the room, not counting one in flight."""
        return len(self._queues.get(room_id, ()))

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Give queued events `drain_timeout` seconds to go out, then stop the workers."""
        workers = [*self._workers.values(), *self._side_tasks]
        if workers:
            _, still_running = await asyncio.wait(workers, timeout=drain_timeout)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        for queue in self._queues.values():
            for pending in queue:
                pending.future.cancel()
        self._queues.clear()

    def _future(self) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # Fire-and-forget callers never read the result; that must not warn at exit.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future

    def _enqueue(self, room_id: str, pending: _Pending) -> asyncio.Future[str]:
        self._queues.setdefault(room_id, deque()).append(pending)
        worker = self._workers.get(room_id)
        if worker is None or worker.done():
            self._workers[room_id] = asyncio.create_task(self._drain(room_id))
        return pending.future

    async def _drain(self, room_id: str) -> None:
        queue = self._queues[room_id]
        while queue:
            # Leaving the queue marks it in flight: later edits no longer fold into it.
            pending = queue.popleft()
            try:
                event_id = await self._deliver(room_id, pending)
            except asyncio.CancelledError:
                pending.future.cancel()
                raise
            except Exception as exc:
                log.warning("matrix_send_failed", room_id=room_id, error=str(exc))
                _settle(pending.future, exc)
            else:
                _settle(pending.future, event_id)

    async def _deliver(self, room_id: str, pending: _Pending) -> str:
        attempt = 0
        while True:
            try:
                response = await self._send_once(room_id, pending)
                if isinstance(response, str):
                    return response
                if isinstance(response, RoomSendResponse | RoomRedactResponse):
                    return str(response.event_id)
                delay = self._retry_delay(response, attempt)
            except TRANSIENT_ERRORS as exc:
                delay = self._backoff(attempt)
                log.info("matrix_send_retry", room_id=room_id, error=repr(exc), delay_s=delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def _send_once(
        self, room_id: str, pending: _Pending
    ) -> RoomSendResponse | RoomRedactResponse | ErrorResponse | str:
        if pending.event_type == "m.room.redaction":
            target = await self._redaction_target(room_id, pending)
            if target is None:
                return ""  # the reaction never went out: nothing to take back
            return await self._client.room_redact(room_id, target, tx_id=pending.txn_id)
        if pending.plaintext:
            return await send_plain(
                self._client, room_id, pending.event_type, pending.content, pending.txn_id
            )
        if pending.event_type == "m.reaction" and should_encrypt(self._client, room_id):
            return await send_encrypted(
                self._client, room_id, pending.event_type, pending.content, pending.txn_id
            )
        await self._await_room(room_id)
        return await self._client.room_send(
            room_id,
            pending.event_type,
            pending.content,
            tx_id=pending.txn_id,
            # Encrypted rooms: members' unverified devices still get the keys.
            ignore_unverified_devices=True,
        )

    async def _await_room(self, room_id: str, timeout_s: float = 30.0) -> None:
        """With E2EE, nio must know a room (its members, whether it is encrypted) before it
        sends there; a room joined a moment ago is known after the next sync."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._client.olm is not None and room_id not in self._client.rooms:
            if loop.time() > deadline:
                return  # room_send then says the room is unknown: the send fails in words
            await asyncio.sleep(0.1)

    async def _redaction_target(self, room_id: str, pending: _Pending) -> str | None:
        if pending.lookup is not None:
            return await find_own_reaction(self._client, room_id, *pending.lookup)
        sent = pending.redacts
        if sent is None or not sent.done() or sent.cancelled() or sent.exception() is not None:
            return None
        return sent.result()

    def _retry_delay(self, response: ErrorResponse, attempt: int) -> float:
        """How long to wait before retrying; raises OutboxError when retrying is pointless."""
        status = response.transport_response.status if response.transport_response else None
        if response.status_code == "M_LIMIT_EXCEEDED" or status == 429:
            self.rate_limited += 1
            return _retry_after_s(response)
        if status is None or status >= 500:
            return self._backoff(attempt)
        raise OutboxError(f"{response.status_code}: {response.message}")

    def _backoff(self, attempt: int) -> float:
        return float(min(0.25 * 2**attempt, self._max_backoff_s))


def _settle(future: asyncio.Future[str], outcome: str | Exception) -> None:
    """Hand a send's outcome to its caller, unless the caller stopped waiting.

    A caller that gave up (a `wait_for` timing out) has cancelled the future while the
    send went on; setting it then would raise InvalidStateError and kill the room's worker.
    """
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _retry_after_s(response: ErrorResponse) -> float:
    if response.retry_after_ms:
        return float(response.retry_after_ms) / 1000
    header = (
        response.transport_response.headers.get("Retry-After")
        if response.transport_response
        else None
    )
    with contextlib.suppress(TypeError, ValueError):
        return max(float(header), 0.0)  # type: ignore[arg-type]
    return 1.0
