"""`!sources`: the configured data sources and their last fetch."""

from __future__ import annotations

from bot.commands.base import Command

COMMANDS: tuple[Command, ...] = ()
