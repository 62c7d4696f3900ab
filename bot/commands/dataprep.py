"""`!optimize`: clean a dataset with the chat model (estimate first, then confirm)."""

from __future__ import annotations

from bot.commands.base import Command

COMMANDS: tuple[Command, ...] = ()
