"""`!schedule`: retraining policies and their last decisions (admins)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core.schedules.service import NONE_CONFIGURED, ScheduleView, decision_notice
from bot.room.commands.base import Arg, Args, CommandContext, Reply, UsageError, command
from bot.settings import ScheduleSettings
from storage.schedules import DecisionRow

HISTORY_DEFAULT = 10


@command(
    "check",
    help="Decide now whether the model should be retrained (recorded and posted).",
    example="schedule check stories",
    args=(Arg("model"),),
)
async def check(ctx: CommandContext, args: Args) -> Reply:
    """One evaluation now."""
    decision = await ctx.services.schedules.evaluate(args.word(0, "model"))
    return Reply.notice(decision_notice(decision))


@command(
    "history",
    help=f"A model's decisions, newest first (the last {HISTORY_DEFAULT} unless N says).",
    example="schedule history stories 20",
    args=(Arg("model"), Arg("N", optional=True)),
)
async def history(ctx: CommandContext, args: Args) -> Reply:
    """A model's decision history."""
    model = args.word(0, "model")
    count = args.optional_word(1)
    limit = _count(count) if count is not None else HISTORY_DEFAULT
    decisions = await ctx.services.schedules.history(model, limit)
    if not decisions:
        return Reply.notice(f"No decisions about {model} yet.")
    return Reply.notice(f"Decisions about {model} (newest first):\n" + lines(decisions))


@command(
    "schedule",
    help="Retraining schedules with their last decisions; check one now, or show its history.",
    example="schedule check stories",
    level="admin",
    subcommands=(check, history),
    slow=True,
)
async def schedule(ctx: CommandContext, args: Args) -> Reply:
    """The overview of every schedule."""
    views = await ctx.services.schedules.overview()
    if not views:
        return Reply.notice(NONE_CONFIGURED)
    return Reply.notice("\n\n".join(describe(view) for view in views))


def _count(word: str) -> int:
    if not word.isdigit() or not 1 <= int(word) <= 100:
        raise UsageError(f"N must be a number from 1 to 100, got {word!r}")
    return int(word)


def describe(view: ScheduleView) -> str:
    """A schedule: what it watches, when it checks, its last decisions."""
    s = view.schedule
    nxt = view.next_run.strftime("%Y-%m-%d %H:%M:%S %Z") if view.next_run else "not scheduled"
    head = f"{s.model} ← {s.dataset}: {policy_text(s)}; checks {when_text(s)}; next {nxt}"
    if not view.decisions:
        return head + "\n  no decisions yet"
    return head + "\n" + lines(view.decisions)


def policy_text(s: ScheduleSettings) -> str:
    """The policy and the parameters it uses."""
    if s.policy == "new_data":
        return f"new_data (min_new_records={s.min_new_records})"
    if s.policy == "metric":
        return f"metric (metric_threshold_pct={s.metric_threshold_pct:g})"
    if s.policy == "llm":
        return f"llm (new_data with min_new_records={s.min_new_records} without an API key)"
    return "cron"


def when_text(s: ScheduleSettings) -> str:
    """`at cron '0 3 * * *'` or `every 1h`."""
    return f"at cron '{s.cron}'" if s.cron else f"every {s.every}"


def lines(decisions: Sequence[DecisionRow]) -> str:
    """One indented line per decision."""
    return "\n".join("  " + decision_line(d) for d in decisions)


def decision_line(d: DecisionRow) -> str:
    """`2024-05-01 03:00 UTC  yes  reason  (job abc)`."""
    at = datetime.fromtimestamp(d.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    job = f" (job {d.job_id})" if d.job_id else ""
    return f"{at}  {'retrain' if d.retrain else 'no retrain'}: {d.reason}{job}"


COMMANDS = (schedule,)
