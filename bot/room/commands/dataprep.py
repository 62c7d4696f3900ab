"""`!optimize`: clean a dataset with the chat model (estimate first, then confirm).

The task's progress and outcome are shown by `bot.room.follow` (`Follow.task`).
"""

from __future__ import annotations

import shlex

from bot.room.commands.base import (
    OPENAI_KEY,
    Arg,
    Args,
    CommandContext,
    Option,
    Reply,
    command,
)

CONFIRM = Option("confirm", kind="flag", bare=True, help="Run it (without: the estimate).")


@command(
    "optimize",
    help="Clean every record with the chat model into a new version of the dataset (the "
    "original stays): fix encoding debris, strip markup, normalise whitespace, keep the "
    "meaning, or follow your instructions. Answers an estimate; add confirm to run it.",
    example="optimize stories",
    args=(Arg("dataset"),),
    options=(
        Option("instructions", shape='"…"', help="What to do instead of the default cleaning."),
        CONFIRM,
    ),
    needs=OPENAI_KEY,
)
async def optimize(ctx: CommandContext, args: Args) -> Reply:
    """The estimate, or with `confirm` the task."""
    ref = args.word(0, "dataset")
    instructions = args.text("instructions")
    dataprep = ctx.services.dataprep
    if not args.flag("confirm"):
        estimate = await dataprep.estimate_optimize(ref, instructions)
        again = f"{ctx.prefix}optimize {ref}"
        if instructions is not None:
            again += f" instructions={shlex.quote(instructions)}"
        return Reply.notice(f"{estimate.describe()}\nSend `{again} confirm` to run it.")
    task = await dataprep.optimize(
        ref, instructions, requested_by=ctx.sender, room_id=ctx.message.room_id
    )
    await ctx.follow_task(task)
    return Reply.notice(
        f"Started task {task.id}: cleaning dataset {task.params['source']} "
        f"({task.progress['total']} records). Progress follows here."
    )


COMMANDS = (optimize,)
