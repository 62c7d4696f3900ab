"""From a room message to a reply: prefix or mention, access, parsing, errors.

One of the two places that translate domain errors for people (the other is the HTTP
error middleware).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from structlog.stdlib import BoundLogger

from bot.core.errors import TrainbotError
from bot.core.services import Services
from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.rooms import is_allowed
from bot.matrix.types import IncomingMessage
from bot.room import text
from bot.room.commands.base import ACK_REACTION, Command, CommandContext, Reply, UsageError
from bot.room.follow import Follow
from bot.room.ports import Room
from bot.settings import Settings

log = get_logger(__name__)


class Dispatcher:
    """Runs commands from room messages and sends the replies through the room face."""

    def __init__(
        self,
        services: Services,
        settings: Settings,
        room: Room,
        follow: Follow,
        commands: Sequence[Command],
    ) -> None:
        self.services = services
        self.settings = settings
        self.room = room
        self.follow = follow
        self.commands = {c.name: c for c in commands}
        self.ordered = tuple(commands)
        m = settings.matrix
        self.prefix = m.command_prefix
        self.users = [*m.allowed_users, *m.admin_users]
        self.admins = list(m.admin_users)
        local = m.user_id.split(":", 1)[0].lstrip("@").lower()
        self.mentions = tuple(n for n in (m.user_id.lower(), "@" + local, local) if n != "@")

    def command_line(self, body: str) -> str | None:
        """The command text without prefix or leading mention; None if not for us."""
        text = body.strip()
        lowered = text.lower()
        for name in self.mentions:
            if name and lowered.startswith(name):
                rest = text[len(name) :].lstrip(":, \t")
                if rest != text[len(name) :] or not rest:
                    return rest.removeprefix(self.prefix) if rest else None
        if text.startswith(self.prefix) and len(text) > len(self.prefix):
            return text[len(self.prefix) :]
        return None

    async def handle(self, message: IncomingMessage) -> None:
        """Entry point for every new text message in a room the bot is in."""
        if message.kind != "text":
            return
        line = self.command_line(message.body)
        if line is None:
            return
        allowed_rooms = self.settings.matrix.allowed_rooms
        if allowed_rooms and message.room_id not in allowed_rooms:
            return
        bound = log.bind(room_id=message.room_id, sender=message.sender)
        if not is_allowed(message.sender, self.users):
            bound.info("command refused: user not allowed")
            await self._send(message, Reply.notice("Sorry, you are not allowed to use this bot."))
            return
        name, _, rest = line.strip().partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            await self._send(
                message,
                Reply.notice(f"Unknown command {self.prefix}{name}; {self.prefix}help lists them."),
            )
            return
        await self._send(message, await self._run(command, rest, message, bound))

    async def _run(
        self, command: Command, rest: str, message: IncomingMessage, bound: BoundLogger
    ) -> Reply:
        is_admin = is_allowed(message.sender, self.admins)
        if command.level == "admin" and not is_admin:
            return Reply.notice(f"Sorry, only admins may use {self.prefix}{command.name}.")
        ctx = CommandContext(
            self.services, self.settings, message, is_admin, self.room, self.follow, self.ordered
        )
        target = command  # the subcommand once the line names one: its usage is the help
        try:
            target, words = command.route(rest)
            args = target.parse(words)
            assert target.handler is not None  # `route` only ends at a handler
            if command.slow or target.slow:
                self.room.react(message.room_id, message.event_id, ACK_REACTION)
            reply = await target.handler(ctx, args)
        except UsageError as exc:
            usage = target.usage_line(self.prefix)
            example = (target if target.example else command).example_line(self.prefix)
            return Reply.notice(f"{exc.message}\nUsage: {usage}\nExample: {example}")
        except TrainbotError as exc:
            return Reply.notice(text.error_text(exc.message, self.prefix))
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            bound.exception("command failed", command=command.name, error_id=error_id)
            return Reply.notice(f"Something went wrong (error {error_id}); it was logged.")
        bound.info("command answered", command=command.name)
        return reply

    async def _send(self, message: IncomingMessage, reply: Reply) -> None:
        await self.room.send(message.room_id, fmt.reply(message, reply.message))
