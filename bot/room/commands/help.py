"""`!help`: generated from the command declarations."""

from __future__ import annotations

from bot.matrix.format import Formatted, text
from bot.room.commands.base import Args, CommandContext, Reply, UsageError, command


@command(
    "help",
    usage="[command]",
    help="List the commands, or explain one.",
    example="help train",
)
async def help_command(ctx: CommandContext, args: Args) -> Reply:
    """The command list, or one command's usage, help and example."""
    prefix = ctx.settings.matrix.command_prefix
    if args.words:
        name = args.words[0].removeprefix(prefix)
        found = next((c for c in ctx.commands if c.name == name), None)
        if found is None:
            raise UsageError(f"no command {name!r}; {prefix}help lists them")
        lines = [found.usage_line(prefix), found.help, f"Example: {prefix}{found.example}"]
        if found.level == "admin":
            lines.append("Admins only.")
        return Reply.notice("\n".join(lines))
    message = text("Commands:")
    for cmd in ctx.commands:
        admin = " (admin)" if cmd.level == "admin" else ""
        message = message + Formatted("\n", "<br>") + text(f"{cmd.usage_line(prefix)}{admin}")
        message = message + Formatted(f"\n    {cmd.help}", f"<br>&nbsp;&nbsp;{_esc(cmd.help)}")
    return Reply.notice(message)


def _esc(value: str) -> str:
    import html

    return html.escape(value)
