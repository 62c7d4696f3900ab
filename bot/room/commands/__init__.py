"""Chat commands: one module per group; `ALL_COMMANDS` is the order `!help` shows."""

from __future__ import annotations

from bot.room.commands import (
    chat,
    dataprep,
    datasets,
    generate,
    help,
    jobs,
    models,
    schedule,
    sources,
    train,
)
from bot.room.commands.base import Command

ALL_COMMANDS: tuple[Command, ...] = (
    help.help_command,
    *train.COMMANDS,
    *jobs.COMMANDS,
    *models.COMMANDS,
    *generate.COMMANDS,
    *chat.COMMANDS,
    *datasets.COMMANDS,
    *dataprep.COMMANDS,
    *sources.COMMANDS,
    *schedule.COMMANDS,
)
