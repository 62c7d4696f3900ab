"""Chat commands stay documented: declarations complete, README table in step with them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.room.commands import ALL_COMMANDS
from bot.room.commands.base import Command

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Chat commands"


def readme_commands() -> list[str]:
    """The command names the README's "Chat commands" table lists, in order."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*`!([a-z_]+)", section, flags=re.MULTILINE)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: c.name)
def test_every_command_has_usage_help_and_a_working_example(command: Command) -> None:
    assert command.usage.strip(), "no usage"
    assert command.help.strip().endswith("."), "help is one sentence or more"
    name, _, rest = command.example.partition(" ")
    assert command.name == name  # the example is this command
    args = command.parse(rest)  # … and it parses (no unknown option, enough words)
    assert len(args.words) >= command.min_words


def test_readme_lists_every_command_and_no_others() -> None:
    listed = readme_commands()
    assert sorted(set(listed)) == sorted(listed), "a command is listed twice"
    assert sorted(c.name for c in ALL_COMMANDS) == sorted(listed)


def readme_row(command: Command) -> str:
    """The README table row a command's declaration gives (usage, help, admin note)."""
    usage = command.usage_line("!").replace("|", "\\|")
    admin = " Admins only." if command.level == "admin" else ""
    return f"| `{usage}` | {command.help}{admin} |"


def test_readme_rows_say_what_the_declarations_say() -> None:
    # Usage or help changed in code but not in README.md (or the other way round).
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `!")]
    assert [readme_row(c) for c in ALL_COMMANDS] == rows


def test_command_names_are_unique() -> None:
    names = [c.name for c in ALL_COMMANDS]
    assert sorted(set(names)) == sorted(names)
