"""Chat commands stay documented: declarations complete, README table in step with them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.room.commands import ALL_COMMANDS
from bot.room.commands.base import Command, UsageError

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Chat commands"


def readme_commands() -> list[str]:
    """The command names the README's "Chat commands" table lists, in order."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*`!([a-z_]+)", section, flags=re.MULTILINE)


def declared(commands: Sequence[Command]) -> list[Command]:
    """The commands with their subcommands, each of which has its own example."""
    return [found for c in commands for found in (c, *declared(c.subcommands))]


@pytest.mark.parametrize("command", declared(ALL_COMMANDS), ids=lambda c: c.path or c.name)
def test_every_command_has_usage_help_and_a_working_example(command: Command) -> None:
    assert command.usage.strip() or not command.args, "no usage"
    assert command.help.strip().endswith("."), "help is one sentence or more"
    path = command.path or command.name
    assert command.example.startswith(path + " ") or command.example == path  # this command
    top = next(c for c in ALL_COMMANDS if c.name == path.split()[0])
    target, words = top.route(command.example.removeprefix(top.name))
    # … and it parses (no unknown option, enough words); a group's example is a subcommand's
    assert target in (command, *command.subcommands)
    assert target.handler is not None
    target.parse(words)


def test_the_usage_line_is_rendered_from_the_declaration() -> None:
    generate = next(c for c in ALL_COMMANDS if c.name == "generate")
    usage = generate.usage_line("?")
    assert usage.startswith("?generate [model=…] [max_tokens=N] [temperature=X] [top_p=X]")
    assert "[top_k=N]" in usage  # accepted, so the usage says so
    assert usage.endswith("[keywords=a,b] [prompt]")
    dataset = next(c for c in ALL_COMMANDS if c.name == "dataset")
    add = dataset.subcommands[0]
    assert "?dataset add <name> [format=F] [skip_invalid=true]" == add.usage_line("?")


def test_subcommands_are_routed_and_unknown_ones_refused() -> None:
    schedule = next(c for c in ALL_COMMANDS if c.name == "schedule")
    assert (schedule, []) == schedule.route("")  # the overview
    target, words = schedule.route("history stories 5")
    assert ("history", ["stories", "5"]) == (target.name, list(words))
    with pytest.raises(UsageError) as refused:
        schedule.route("purge stories")
    assert "unknown subcommand 'purge': use check or history" == refused.value.message


def test_options_are_typed_by_their_declaration() -> None:
    generate = next(c for c in ALL_COMMANDS if c.name == "generate")
    args = generate.parse(["max_tokens=12", "keywords=boat,", "dog", "the", "cat"])
    assert {"max_tokens": 12, "keywords": ("boat",)} == args.given(["max_tokens", "keywords"])
    assert "dog the cat" == args.rest()
    with pytest.raises(UsageError) as refused:
        generate.parse(["temperature=hot"])
    assert "temperature must be a number, got 'hot'" == refused.value.message


def test_readme_lists_every_command_and_no_others() -> None:
    listed = readme_commands()
    assert sorted(set(listed)) == sorted(listed), "a command is listed twice"
    assert sorted(c.name for c in ALL_COMMANDS) == sorted(listed)


def readme_row(command: Command) -> str:
    """The README table row a command's declaration gives (usage, help, admin note)."""
    usage = command.usage_line("!").replace("|", "\\|")
    admin = " Admins only." if command.level == "admin" else ""
    return f"| `{usage}` | {command.help_text('!')}{admin} |"


def test_readme_rows_say_what_the_declarations_say() -> None:
    # Usage or help changed in code but not in README.md (or the other way round).
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `!")]
    assert [readme_row(c) for c in ALL_COMMANDS] == rows


def test_command_names_are_unique() -> None:
    names = [c.name for c in ALL_COMMANDS]
    assert sorted(set(names)) == sorted(names)
