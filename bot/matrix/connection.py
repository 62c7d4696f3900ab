"""The bot's Matrix connection: login, a replay-safe sync loop, media, and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadError,
    Event,
    MegolmEvent,
    RoomGetEventResponse,
    SyncError,
    SyncResponse,
)
from nio.crypto.attachments import decrypt_attachment

from bot.logs import get_logger
from bot.matrix.crypto import Encryption, e2ee_enabled
from bot.matrix.events import to_incoming
from bot.matrix.history import History
from bot.matrix.login import MatrixLoginError, log_in
from bot.matrix.outbox import TRANSIENT_ERRORS, Outbox
from bot.matrix.plaintext import PlaintextRooms
from bot.matrix.rooms import RoomMembership
from bot.matrix.session import SessionFile
from bot.matrix.timeline import fresh_events
from bot.matrix.types import IncomingMessage, MatrixConfig, MessageHandler, StateStore

log = get_logger(__name__)
# Enough timeline per room that a restart after a busy hour still sees the commands.
SYNC_FILTER = {"room": {"timeline": {"limit": 100}}, "presence": {"not_types": ["*"]}}


def nio_config(e2ee: bool) -> AsyncClientConfig:
    """nio settings for the bot: no retries inside nio (the outbox and sync loop own
    retrying, which lets edits coalesce while a rate limit is waited out)."""
    return AsyncClientConfig(
        max_limit_exceeded=0, max_timeouts=0, encryption_enabled=e2ee, store_sync_tokens=False
    )


class MatrixError(RuntimeError):
    """A Matrix request the app asked for (download, fetch) failed."""


class MatrixConnection:
    """One bot account on one homeserver.

    `start()` logs in and runs the sync loop in the background; every new m.text or
    m.file from someone else is passed to `on_message` exactly once, never history.
    Send through `outbox`. `stop()` drains the outbox and waits for running handlers.
    """

    def __init__(self, config: MatrixConfig, state: StateStore, on_message: MessageHandler) -> None:
        self.config = config
        self.e2ee = e2ee_enabled(config.e2ee)
        store = config.store_dir / "nio" if self.e2ee else None
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            config.homeserver,
            config.user_id,
            store_path=str(store or ""),
            config=nio_config(self.e2ee),
        )
        self.outbox = Outbox(self.client, max_backoff_s=config.max_backoff_s)
        self.plaintext = PlaintextRooms(self.client, self.outbox, state)
        self.history = History(state)
        self._on_message = on_message
        self._rooms = RoomMembership(self.client, config.allowed_users, config.leave_when_alone)
        self.crypto = Encryption(self.client, self.outbox, config) if self.e2ee else None
        self._sync_task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._synced = asyncio.Condition()
        self.sync_count = 0

    @property
    def device_id(self) -> str:
        """The device this bot logged in as (kept across restarts)."""
        return str(self.client.device_id)

    async def start(self) -> None:
        """Log in and start syncing; raises MatrixLoginError on bad credentials and waits
        (retrying) while the homeserver cannot be reached."""
        attempt = 0
        while True:
            try:
                await log_in(self.client, self.config, SessionFile(self.config.store_dir))
                break
            except TRANSIENT_ERRORS as exc:
                log.warning("matrix_login_retry", error=repr(exc))
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
        await self.history.load()
        await self.plaintext.load()
        self._sync_task = asyncio.create_task(self._sync_forever(), name="matrix-sync")

    async def stop(self) -> None:
        """Stop syncing, let running handlers and queued sends finish, close the client."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self.outbox.close()
        await self.client.close()

    async def wait_for_sync(self, count: int = 1) -> None:
        """Wait until `count` more syncs completed (tests, demo: 'the bot is caught up');
        bound it with `asyncio.timeout`."""
        target = self.sync_count + count
        async with self._synced:
            await self._synced.wait_for(lambda: self.sync_count >= target)

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        """The bytes behind an mxc:// URI, decrypted when `file_info` is given."""
        response = await self.client.download(mxc=url)
        if isinstance(response, DownloadError):
            raise MatrixError(f"download of {url} failed: {response.message}")
        data = bytes(response.body)
        if file_info is not None:
            data = decrypt_attachment(
                data, file_info["key"]["k"], file_info["hashes"]["sha256"], file_info["iv"]
            )
        return data

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        """An earlier message by id (e.g. the file a command replies to), if readable."""
        response = await self.client.room_get_event(room_id, event_id)
        if not isinstance(response, RoomGetEventResponse):
            return None
        event = response.event
        return to_incoming(room_id, event.source, encrypted=getattr(event, "decrypted", False))

    async def _sync_forever(self) -> None:
        attempt, first = 0, True
        while True:
            try:
                response = await self.client.sync(
                    timeout=0 if first else self.config.sync_timeout_ms,
                    since=self.history.sync_token,
                    # After a restart nio's room state is empty; full state refills it
                    # while the timeline still starts at the stored token.
                    full_state=first,
                    sync_filter=SYNC_FILTER,
                )
            except TRANSIENT_ERRORS as exc:
                response = None
                log.info("matrix_sync_retry", error=repr(exc))
            if not isinstance(response, SyncResponse):
                if isinstance(response, SyncError) and response.status_code == "M_UNKNOWN_TOKEN":
                    log.error("matrix_token_revoked")
                    raise MatrixLoginError("the homeserver revoked the bot's access token")
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            try:
                await self._process(response, act=self.history.sync_token is not None)
            except Exception:
                # A bug in handling one sync must not stop the bot from hearing the next.
                log.exception("matrix_sync_processing_failed")
            await self.history.save_sync_token(response.next_batch)
            first = False
            async with self._synced:
                self.sync_count += 1
                self._synced.notify_all()

    def _backoff(self, attempt: int) -> float:
        return float(min(0.5 * 2**attempt, self.config.max_backoff_s))

    async def _process(self, response: SyncResponse, *, act: bool) -> None:
        """Answer invites; when `act`, hand new messages over (the very first sync is
        only a starting point: whatever it shows is history)."""
        if self.crypto is not None:
            await self.crypto.after_sync()
        await self._rooms.answer_invites(response)
        for room_id, info in response.rooms.join.items():
            events = await fresh_events(
                room_id, info.timeline.events, self.history, self.client.user_id
            )
            for event in events if act else ():
                await self._deliver(room_id, event)
        await self._rooms.leave_if_alone(response.rooms.join)

    async def _deliver(self, room_id: str, event: Event) -> None:
        if isinstance(event, MegolmEvent):
            await self.history.mark_handled(event.event_id)
            if self.crypto is not None:
                await self.crypto.undecryptable(room_id, event)
            else:
                await self.plaintext.note_once(room_id, event.sender)
            return
        message = to_incoming(room_id, event.source, encrypted=getattr(event, "decrypted", False))
        if message is not None:
            # Only what reaches the app needs remembering; that keeps state writes rare.
            await self.history.mark_handled(event.event_id)
            if self.crypto is None and self.plaintext.is_encrypted(room_id):
                await self.plaintext.note_once(room_id, message.sender)
            task = asyncio.create_task(self._run_handler(message))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _run_handler(self, message: IncomingMessage) -> None:
        try:
            await self._on_message(message)
        except Exception:
            log.exception(
                "matrix_handler_failed", room_id=message.room_id, event_id=message.event_id
            )
