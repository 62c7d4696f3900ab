"""From a room message to a reply: prefix or mention, access, parsing, errors.

One of the two places that translate domain errors for people (the other is the HTTP
error middleware).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import replace

from structlog.stdlib import BoundLogger

from bot.core.errors import TrainbotError
from bot.core.services import Services
from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.rooms import is_allowed
from bot.matrix.types import IncomingMessage
from bot.room import text
from bot.room.commands.base import Command, CommandContext, Reply, UsageError
from bot.room.commands.chat import thread_reply
from bot.room.follow import Follow
from bot.room.origin import ACK_REACTION, DONE_REACTION, FAILED_REACTION
from bot.room.ports import Room
from bot.settings import Settings

log = get_logger(__name__)
# A slow command not answered within this gets ⏳, so quick answers and refusals never do.
ACK_AFTER_S = 1.0
# An edit of a refused command within this is a new try (a typo fixed with the client's edit).
RETRY_WITHIN_S = 120.0


class Refused(Exception):
    """A command refused for its words (usage or validation): an edit may try again."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.message.plain)
        self.reply = reply


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
        self._refused: dict[str, tuple[float, IncomingMessage]] = {}  # event id → when, what

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
        if message.replaces is not None:
            retried = self._retry(message)
            if retried is None:
                return  # edits of answered commands (or of anything else) are ignored
            message = retried
        line = self.command_line(message.body) or thread_reply(
            self.services, self.settings, message
        )
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
        try:
            reply = await self._answer(line, message, bound)
        except Refused as refused:
            self._remember_refusal(message)
            reply = refused.reply
        await self._send(message, reply)

    def _remember_refusal(self, message: IncomingMessage) -> None:
        """Keep a refused command for `RETRY_WITHIN_S` (older ones are forgotten now)."""
        now = time.monotonic()
        for event_id, (when, _) in list(self._refused.items()):
            if now - when > RETRY_WITHIN_S:
                del self._refused[event_id]
        self._refused[message.event_id] = (now, message)

    def _retry(self, edit: IncomingMessage) -> IncomingMessage | None:
        """The refused command an edit fixes, with the edit's words; None: ignore the edit."""
        found = self._refused.pop(edit.replaces or "", None)
        if found is not None and time.monotonic() - found[0] > RETRY_WITHIN_S:
            return None
        if found is None or found[1].sender != edit.sender:
            return None
        # Answers and reactions go to the original command, in its thread.
        return replace(found[1], body=edit.body, content=edit.content)

    async def _answer(self, line: str, message: IncomingMessage, bound: BoundLogger) -> Reply:
        name, _, rest = line.strip().partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            unknown = f"Unknown command {self.prefix}{name}; {self.prefix}help lists them."
            raise Refused(Reply.notice(unknown))
        return await self._run(command, rest, message, bound)

    async def _run(
        self, command: Command, rest: str, message: IncomingMessage, bound: BoundLogger
    ) -> Reply:
        is_admin = is_allowed(message.sender, self.admins)
        if command.level == "admin" and not is_admin:
            return Reply.notice(f"Sorry, only admins may use {self.prefix}{command.name}.")
        ctx = CommandContext(
            self.services, self.settings, message, is_admin, self.room, self.follow, self.ordered
        )
        try:
            reply = await self._call(command, rest, ctx, bound)
        except Refused:
            self._end_reaction(ctx, ok=False)
            raise
        self._end_reaction(ctx, ok=reply.react != FAILED_REACTION)
        return reply

    async def _call(
        self, command: Command, rest: str, ctx: CommandContext, bound: BoundLogger
    ) -> Reply:
        target = command  # the subcommand once the line names one: its usage is the help
        try:
            target, words = command.route(rest)
            args = target.parse(words)
            assert target.handler is not None  # `route` only ends at a handler
            reply = await self._acknowledged_if_slow(
                target.handler(ctx, args), ctx, command.slow or target.slow
            )
        except UsageError as exc:
            usage = target.usage_line(self.prefix)
            example = (target if target.example else command).example_line(self.prefix)
            raise Refused(
                Reply.notice(f"{exc.message}\nUsage: {usage}\nExample: {example}")
            ) from None
        except TrainbotError as exc:
            raise Refused(Reply.notice(text.error_text(exc.message, self.prefix))) from None
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            bound.exception("command failed", command=command.name, error_id=error_id)
            return Reply.notice(
                f"Something went wrong (error {error_id}); it was logged.", FAILED_REACTION
            )
        bound.info("command answered", command=command.name)
        return reply

    async def _acknowledged_if_slow(
        self, work: Awaitable[Reply], ctx: CommandContext, slow: bool
    ) -> Reply:
        """The handler's reply; a slow one still working after `ACK_AFTER_S` gets ⏳."""
        task = asyncio.ensure_future(work)
        if slow:
            done, _ = await asyncio.wait({task}, timeout=ACK_AFTER_S)
            if not done:
                ctx.acknowledge()
        return await task

    def _end_reaction(self, ctx: CommandContext, *, ok: bool) -> None:
        """⏳ becomes ✅ or ❌ when the answer ends the work (a job or task swaps it later)."""
        if not ctx.acknowledged or ctx.continues:
            return
        room_id, event_id = ctx.message.room_id, ctx.message.event_id
        self.room.unreact(room_id, event_id, ACK_REACTION)
        self.room.react(room_id, event_id, DONE_REACTION if ok else FAILED_REACTION)

    async def _send(self, message: IncomingMessage, reply: Reply) -> None:
        if not reply.message.plain:  # the command answered in place (`!chat` streams)
            return
        await self.room.send(message.room_id, fmt.reply(message, reply.message))
