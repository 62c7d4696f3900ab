"""`!help`: generated from the command declarations and the settings in use.

Commands whose setting is missing (`Command.needs`) are not listed among those that work;
a closing section names them with the setting that makes them available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.matrix.format import Formatted, escape, text
from bot.room.commands.args import Option
from bot.room.commands.base import Arg, Args, Command, CommandContext, Reply, UsageError, command
from bot.settings import Settings


@command(
    "help",
    help="List the commands, or explain one.",
    example="help train",
    args=(Arg("command", optional=True),),
)
async def help_command(ctx: CommandContext, args: Args) -> Reply:
    """The commands that work here, or one command's usage, help, options and example."""
    prefix = ctx.prefix
    if args.words:
        name = args.words[0].removeprefix(prefix)
        found = next((c for c in ctx.commands if c.name == name), None)
        if found is None:
            raise UsageError(f"no command {name!r}; {prefix}help lists them")
        return Reply.notice("\n".join(explain(found, prefix, ctx.settings)))
    working, missing = split_by_settings(ctx.commands, ctx.settings)
    message = text("Commands:")
    for cmd in working:
        admin = " (admin)" if cmd.level == "admin" else ""
        message += _entry(f"{cmd.usage_line(prefix)}{admin}", cmd.help_text(prefix))
    if missing:
        message += text("\n\nAvailable with more settings (the operator sets them):")
        for cmd in missing:
            assert cmd.needs is not None  # only commands that need a setting are missing
            message += _entry(f"{prefix}{cmd.path or cmd.name}", f"needs {cmd.needs.setting}")
    return Reply.notice(message)


def split_by_settings(
    commands: Sequence[Command], settings: Settings
) -> tuple[list[Command], list[Command]]:
    """(commands as they work with these settings, (sub)commands a missing setting holds back);
    a group keeps the subcommands that work."""
    working: list[Command] = []
    missing: list[Command] = []
    for cmd in commands:
        if cmd.needs is not None and not cmd.needs.met(settings):
            missing.append(cmd)
            continue
        held = [sub for sub in cmd.subcommands if sub.needs and not sub.needs.met(settings)]
        missing += held
        kept = tuple(sub for sub in cmd.subcommands if sub not in held)
        working.append(replace(cmd, subcommands=kept, help=_summary(kept)) if held else cmd)
    return working, missing


def _summary(kept: Sequence[Command]) -> str:
    """A group's help when some subcommands are held back: the group's text describes them
    all, so it is rebuilt from the subcommands that work."""
    parts = [f"{sub.name}: {sub.help[:1].lower()}{sub.help[1:].rstrip('.')}" for sub in kept]
    return "; ".join(parts) + "."


def _entry(line: str, about: str) -> Formatted:
    html = f"<br>{escape(line)}<br>&nbsp;&nbsp;{escape(about, breaks=False)}"
    return Formatted(f"\n{line}\n    {about}", html)


def explain(found: Command, prefix: str, settings: Settings | None = None) -> list[str]:
    """Usage, help, each subcommand and documented option, example, admin note, and the
    setting it still needs."""
    lines = [found.usage_line(prefix), found.help_text(prefix)]
    for sub in found.subcommands:
        lines.append(f"{sub.usage_line(prefix)}: {sub.help_text(prefix)}")
    lines += [_option_line(option) for option in found.options if option.help]
    lines.append(f"Example: {found.example_line(prefix)}")
    if found.level == "admin":
        lines.append("Admins only.")
    if settings is not None:
        for cmd in (found, *found.subcommands):
            if cmd.needs is not None and not cmd.needs.met(settings):
                lines.append(f"{prefix}{cmd.path or cmd.name} needs {cmd.needs.setting}.")
    return lines


def _option_line(option: Option) -> str:
    default = "" if option.default in (None, ()) else f"; default {option.default}"
    return f"  {option.usage().strip('[]')}: {option.help}{default}"
