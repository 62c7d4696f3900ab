"""Where a job or task came from: the command, its thread, who asked, its reaction.

A job or task started by a chat command keeps every message in the command's thread,
swaps the command's ⏳ for ✅ or ❌ when its work ends, and its final notice pings whoever
asked, in reply to their command. Jobs queued over HTTP (or by a schedule) have no
command: their messages go to the main timeline and ping nobody.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from bot.matrix import format as fmt
from bot.matrix.types import IncomingMessage, StateStore
from bot.room.text import code_spans

ACK_REACTION = "⏳"  # on a command whose work continues after the answer
DONE_REACTION = "✅"
FAILED_REACTION = "❌"
# A Matrix user id (`@local:server`); API clients (`api:<name>`) and schedules are not.
MATRIX_USER = re.compile(r"@[^:\s]+:\S+")


@dataclass(frozen=True)
class Origin:
    """The command behind a job or task; `event_id` None when none (HTTP, schedules)."""

    room_id: str
    event_id: str | None = None
    sender: str | None = None
    thread_root: str | None = None
    acknowledged: bool = False  # ⏳ was put on the command

    @classmethod
    def of(cls, message: IncomingMessage, *, acknowledged: bool = True) -> Origin:
        """The origin of work a chat command started."""
        return cls(
            message.room_id, message.event_id, message.sender, message.thread_root, acknowledged
        )

    @property
    def mentions(self) -> list[str]:
        """Whom the final notice pings: a Matrix user who asked, nobody otherwise."""
        return [self.sender] if self.sender and MATRIX_USER.fullmatch(self.sender) else []

    def in_thread(self) -> dict[str, Any] | None:
        """The relation of a progress message or image: in the command's thread, if any."""
        if self.thread_root is None:
            return None
        # Clients without threads show it as a reply to the command (the fallback).
        return {
            "rel_type": "m.thread",
            "event_id": self.thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": self.event_id or self.thread_root},
        }

    def in_reply(self) -> dict[str, Any] | None:
        """The relation of the final notice: a reply to the command, in its thread."""
        if self.event_id is None:
            return self.in_thread()
        relation: dict[str, Any] = {"m.in_reply_to": {"event_id": self.event_id}}
        if self.thread_root is not None:
            relation |= {"rel_type": "m.thread", "event_id": self.thread_root}
            relation["is_falling_back"] = False
        return relation


def progress_content(origin: Origin, line: str) -> dict[str, Any]:
    """A progress message (pings nobody), in the command's thread."""
    return _related(fmt.notice(code_spans(line)), origin.in_thread())


def final_content(origin: Origin, text: str) -> dict[str, Any]:
    """The final notice: names and pings who asked, replies to their command."""
    mentions = origin.mentions
    if not mentions:
        return _related(fmt.notice(code_spans(text)), origin.in_reply())
    user = mentions[0]
    name = user.split(":", 1)[0].lstrip("@")
    pill = f'<a href="https://matrix.to/#/{fmt.escape(user)}">{fmt.escape(name)}</a>: '
    message = fmt.Formatted(f"{name}: ", pill) + code_spans(text)
    return _related(fmt.notice(message, mentions=mentions), origin.in_reply())


def _related(content: dict[str, Any], relation: dict[str, Any] | None) -> dict[str, Any]:
    if relation is not None:
        content["m.relates_to"] = relation
    return content


class Origins:
    """Origins kept in the state store (a restart keeps threads, pings and reactions)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._known: dict[str, Origin] = {}

    def remember(self, subject: str, origin: Origin) -> None:
        """Known at once (before the first event is shown), stored soon after."""
        self._known[subject] = origin

    async def save(self, subject: str) -> None:
        """Write what `remember` was told."""
        origin = self._known.get(subject)
        if origin is not None:
            await self.state.set(_key(subject), json.dumps(asdict(origin)))

    async def get(self, subject: str) -> Origin | None:
        """The origin of `job.<id>` or `task.<id>`, if a command started it."""
        if subject in self._known:
            return self._known[subject]
        raw = await self.state.get(_key(subject))
        if raw is None:
            return None
        origin = self._known[subject] = Origin(**json.loads(raw))
        return origin

    def forget(self, subject: str) -> None:
        """Drop the in-memory copy once the subject is done (the stored one stays)."""
        self._known.pop(subject, None)


def _key(subject: str) -> str:
    return f"room.origin.{subject}"
