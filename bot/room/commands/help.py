"""`!help`: generated from the command declarations."""

from __future__ import annotations

from bot.matrix.format import Formatted, escape, text
from bot.room.commands.args import Option
from bot.room.commands.base import Arg, Args, Command, CommandContext, Reply, UsageError, command


@command(
    "help",
    help="List the commands, or explain one.",
    example="help train",
    args=(Arg("command", optional=True),),
)
async def help_command(ctx: CommandContext, args: Args) -> Reply:
    """The command list, or one command's usage, help, options and example."""
    prefix = ctx.prefix
    if args.words:
        name = args.words[0].removeprefix(prefix)
        found = next((c for c in ctx.commands if c.name == name), None)
        if found is None:
            raise UsageError(f"no command {name!r}; {prefix}help lists them")
        return Reply.notice("\n".join(explain(found, prefix)))
    message = text("Commands:")
    for cmd in ctx.commands:
        admin = " (admin)" if cmd.level == "admin" else ""
        line, about = f"{cmd.usage_line(prefix)}{admin}", cmd.help_text(prefix)
        html = f"<br>{escape(line)}<br>&nbsp;&nbsp;{escape(about, breaks=False)}"
        message += Formatted(f"\n{line}\n    {about}", html)
    return Reply.notice(message)


def explain(found: Command, prefix: str) -> list[str]:
    """Usage, help, each subcommand and documented option, example, admin note."""
    lines = [found.usage_line(prefix), found.help_text(prefix)]
    for sub in found.subcommands:
        lines.append(f"{sub.usage_line(prefix)}: {sub.help_text(prefix)}")
    lines += [_option_line(option) for option in found.options if option.help]
    lines.append(f"Example: {found.example_line(prefix)}")
    if found.level == "admin":
        lines.append("Admins only.")
    return lines


def _option_line(option: Option) -> str:
    default = "" if option.default in (None, ()) else f"; default {option.default}"
    return f"  {option.usage().strip('[]')}: {option.help}{default}"
