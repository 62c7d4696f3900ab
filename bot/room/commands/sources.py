"""`!sources`: the configured data sources and their last fetch; `!sources fetch` (admins)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.core.errors import Forbidden
from bot.core.sources.service import SourceStatus
from bot.matrix.format import Formatted, table, text
from bot.room.commands.base import (
    FAILED_REACTION,
    Arg,
    Args,
    CommandContext,
    Reply,
    command,
    subcommand,
)
from bot.room.text import duration

MAX_RESULT = 160
NO_SOURCES = (
    "No data sources are configured. Add a [[sources]] table to the config file "
    '(name, url, select, dataset and every = "1h" or a cron line) and restart the bot.'
)


@subcommand(
    "fetch",
    help="Fetch one source now (admins).",
    example="sources fetch news",
    args=(Arg("name"),),
    slow=True,
)
async def fetch(ctx: CommandContext, args: Args) -> Reply:
    """Fetch a source now and say what it wrote."""
    name = args.word(0, "source name")
    if not ctx.is_admin:
        raise Forbidden(
            f"only admins may fetch a source ({ctx.prefix}sources shows them to everyone)"
        )
    ctx.services.sources.get(name)  # an unknown name is refused before fetching
    fetched = await ctx.services.sources.fetch(name, trigger=ctx.sender)
    if fetched.ok:
        return Reply.notice(f"Fetched {name}: {fetched.outcome}.")
    return Reply.notice(
        f"Fetching {name} failed; nothing was written.\n{fetched.error}", react=FAILED_REACTION
    )


@command(
    "sources",
    help="Data sources with their schedule and last fetch; fetch <name> fetches one now (admins).",
    example="sources",
    subcommands=(fetch,),
)
async def sources(ctx: CommandContext, args: Args) -> Reply:
    """The table of sources."""
    found = await ctx.services.sources.status()
    if not found:
        return Reply.notice(NO_SOURCES)
    return Reply(text("Data sources:\n") + sources_table(found, time.time()))


def sources_table(found: Sequence[SourceStatus], now: float) -> Formatted:
    """One row per source: dataset, schedule, last fetch and its result, next run."""
    rows = []
    for status in found:
        last = status.fetches[0] if status.fetches else None
        when = duration(now - last.started_at) + " ago" if last else "never"
        result = _short(last.outcome) if last else "-"
        if status.running:
            result = "fetching now…"
        rows.append(
            (
                status.settings.name,
                status.settings.dataset,
                status.schedule,
                when,
                result,
                _next(status, now),
            )
        )
    return table(("source", "dataset", "schedule", "last fetch", "result", "next"), rows)


def _next(status: SourceStatus, now: float) -> str:
    if status.next_run is None:
        return "scheduler off"
    return "in " + duration(max(0.0, status.next_run.timestamp() - now))


def _short(value: str) -> str:
    return value if len(value) <= MAX_RESULT else value[: MAX_RESULT - 1] + "…"


COMMANDS = (sources,)
