"""`!help` lists what works with the settings in use and what a setting would add."""

from __future__ import annotations

from collections.abc import Sequence

from bot.room.commands import ALL_COMMANDS
from bot.room.commands.base import Command
from bot.room.commands.help import explain, split_by_settings
from bot.settings import Settings


def _paths(commands: Sequence[Command]) -> list[str]:
    return [c.path or c.name for c in commands]


def test_without_an_openai_key_the_chat_model_commands_are_held_back() -> None:
    working, missing = split_by_settings(ALL_COMMANDS, Settings())

    assert ["optimize", "dataset generate"] == sorted(_paths(missing), reverse=True)
    assert "optimize" not in _paths(working)
    dataset = next(c for c in working if c.name == "dataset")
    assert ["add", "stats"] == [sub.name for sub in dataset.subcommands]
    assert "generate" not in dataset.usage_line("!")
    assert (
        "add: store the file your message replies to as a new version; "
        "stats: token statistics of a stored dataset."
    ) == dataset.help_text("!")


def test_with_an_openai_key_everything_is_listed() -> None:
    settings = Settings(openai={"api_key": "sk-test"})

    working, missing = split_by_settings(ALL_COMMANDS, settings)

    assert [] == missing
    assert _paths(ALL_COMMANDS) == _paths(working)


def test_explaining_a_held_back_command_names_the_setting() -> None:
    optimize = next(c for c in ALL_COMMANDS if c.name == "optimize")

    assert "!optimize needs [openai] api_key." == explain(optimize, "!", Settings())[-1]
    assert "needs" not in explain(optimize, "!", Settings(openai={"api_key": "k"}))[-1]
