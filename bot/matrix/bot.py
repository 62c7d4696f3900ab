"""`MatrixBot`: the room face — connection, command dispatcher, progress, hook notices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from bot.core.services import Services
from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.connection import MatrixConnection
from bot.matrix.progress import ProgressNotifier
from bot.matrix.types import IncomingMessage, MatrixConfig
from bot.room.commands import ALL_COMMANDS
from bot.room.dispatcher import Dispatcher
from bot.settings import Settings

log = get_logger(__name__)


def matrix_config(settings: Settings) -> MatrixConfig:
    """Plain connection values from `[matrix]`."""
    m = settings.matrix
    return MatrixConfig(
        homeserver=m.homeserver,
        user_id=m.user_id,
        store_dir=m.store_dir,
        password=m.password.get_secret_value() if m.password else None,
        access_token=m.access_token.get_secret_value() if m.access_token else None,
        device_name=m.device_name,
        e2ee=m.e2ee,
        allowed_users=(*m.allowed_users, *m.admin_users),
        leave_when_alone=m.leave_when_alone,
    )


class MatrixBot:
    """Connects to the homeserver and serves the room: commands in, replies and progress out."""

    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self.dispatcher = Dispatcher(services, settings, self, ALL_COMMANDS)
        self.connection = MatrixConnection(
            matrix_config(settings), services.store.state, self.dispatcher.handle
        )
        self.notifier = ProgressNotifier(services, self, settings.matrix.progress_interval_s)
        self._hooks_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in, start syncing, follow job events and deliver queued hook notices."""
        self.services.bus.add_listener(self.notifier.on_event)
        await self.connection.start()
        self._hooks_task = asyncio.create_task(self._deliver_notices(), name="hook-notices")

    async def stop(self) -> None:
        """Stop syncing and following; queued room messages are drained first."""
        if self._hooks_task:
            self._hooks_task.cancel()
            await asyncio.gather(self._hooks_task, return_exceptions=True)
        await self.notifier.stop()
        await self.connection.stop()

    # The room face the commands and the notifier use.

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        """Send through the outbox (in order, retried on rate limits); the event id."""
        return await self.connection.outbox.send(room_id, content)

    def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> None:
        """Queue an edit; pending edits of the same message coalesce."""
        self.connection.outbox.edit(room_id, event_id, content)

    def react(self, room_id: str, event_id: str, key: str) -> None:
        """Queue a reaction."""
        self.connection.outbox.react(room_id, event_id, key)

    def typing(self, room_id: str, on: bool) -> None:
        """Show or clear the typing notice."""
        self.connection.outbox.typing(room_id, on)

    async def send_image(
        self, room_id: str, png: bytes, filename: str, *, width: int, height: int
    ) -> str:
        """Upload a PNG and post it; in an encrypted room the file is encrypted too."""
        room = self.connection.client.rooms.get(room_id)
        encrypt = bool(room is not None and room.encrypted)
        url, keys = await self.connection.outbox.upload_image(png, filename, encrypt=encrypt)
        content = fmt.image(url, filename, width=width, height=height, size=len(png), keys=keys)
        return await self.send(room_id, content)

    async def download(self, url: str, file_info: Mapping[str, Any] | None = None) -> bytes:
        """Download (and decrypt) a file someone uploaded."""
        return await self.connection.download(url, file_info)

    async def fetch_event(self, room_id: str, event_id: str) -> IncomingMessage | None:
        """An earlier message of the room (the file a command replies to)."""
        return await self.connection.fetch_event(room_id, event_id)

    async def _deliver_notices(self) -> None:
        outbox = self.services.notifications
        while True:
            for notice in await outbox.pending():
                try:
                    await self.send(notice.room_id, fmt.notice(fmt.markdown(notice.text)))
                except Exception:
                    log.exception("hook notice not delivered", room_id=notice.room_id)
                    continue
                await outbox.ack(notice.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.wait(), timeout=30)
