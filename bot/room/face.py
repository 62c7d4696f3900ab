"""`RoomFace`: the chat face assembled — transport, commands, progress, hook notices.

bot.matrix is only the transport (connection, outbox, crypto, formatting); what the bot
says and when is decided here and in the modules beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot.core.notifications import Notice
from bot.core.services import Services
from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.connection import MatrixConnection
from bot.matrix.transport import MatrixTransport
from bot.matrix.types import IncomingMessage, MatrixConfig
from bot.room.commands import ALL_COMMANDS
from bot.room.dispatcher import Dispatcher
from bot.room.follow import Follow
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
        cross_signing=m.cross_signing,
        allowed_users=(*m.allowed_users, *m.admin_users),
        leave_when_alone=m.leave_when_alone,
    )


def notice_content(notice: Notice) -> dict[str, Any]:
    """A queued notice as a room message: plain text (escaped, never live markdown) unless
    the notice is the bot's own markdown; `@room` is defused either way."""
    body = fmt.markdown(notice.text) if notice.markdown else fmt.text(notice.text)
    return fmt.notice(body)


class RoomFace:
    """Connects to the homeserver and serves the rooms: commands in, replies and progress out."""

    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self.connection = MatrixConnection(
            matrix_config(settings), services.store.state, self._on_message
        )
        self.room = MatrixTransport(self.connection)
        m = settings.matrix
        self.follow = Follow(
            services, self.room, prefix=m.command_prefix, interval_s=m.progress_interval_s
        )
        self.dispatcher = Dispatcher(services, settings, self.room, self.follow, ALL_COMMANDS)
        self._notices_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in, start syncing, follow job events and deliver queued hook notices."""
        self.services.bus.add_listener(self.follow.on_event)
        await self.connection.start()
        self._notices_task = asyncio.create_task(self._deliver_notices(), name="hook-notices")

    async def stop(self) -> None:
        """Stop syncing and following; queued room messages are drained first."""
        if self._notices_task:
            self._notices_task.cancel()
            await asyncio.gather(self._notices_task, return_exceptions=True)
        await self.follow.stop()
        await self.connection.stop()

    async def _on_message(self, message: IncomingMessage) -> None:
        await self.dispatcher.handle(message)

    async def _deliver_notices(self) -> None:
        """Post what other parts queued for a room (hooks, schedules), each exactly once."""
        outbox = self.services.notifications
        while True:
            for notice in await outbox.pending():
                try:
                    await self.room.send(notice.room_id, notice_content(notice))
                except Exception:
                    log.exception("hook notice not delivered", room_id=notice.room_id)
                    continue
                await outbox.ack(notice.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.wait(), timeout=30)
