"""`!schedule`: retraining policies and their last decisions (admins)."""

from __future__ import annotations

from bot.commands.base import Command

COMMANDS: tuple[Command, ...] = ()
