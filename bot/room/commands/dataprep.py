"""`!optimize`: clean a dataset with the chat model (estimate first, then confirm).

Also the room face of every data task (`follow_in_room`): one progress message edited in
place, then a final notice with the new version or the reason it failed.
"""

from __future__ import annotations

import shlex

from bot.core.dataprep.progress import Progress
from bot.core.dataprep.text import final_text, progress_line
from bot.matrix import format as fmt
from bot.room.commands.base import Args, CommandContext, Reply, UsageError, command
from storage.data_tasks import DataTaskRow


@command(
    "optimize",
    usage='<dataset> [instructions="…"] [confirm]',
    help="Clean every record with the chat model into a new version of the dataset (the "
    "original stays): fix encoding debris, strip markup, normalise whitespace, keep the "
    "meaning, or follow your instructions. Answers an estimate; add confirm to run it.",
    example="optimize stories",
    keys=("instructions",),
    min_words=1,
)
async def optimize(ctx: CommandContext, args: Args) -> Reply:
    """The estimate, or with `confirm` the task."""
    ref = args.word(0, "dataset")
    only_words(args, 1)
    instructions = args.options.get("instructions")
    dataprep = ctx.services.dataprep
    if not args.flag("confirm"):
        estimate = await dataprep.estimate_optimize(ref, instructions)
        again = f"{ctx.settings.matrix.command_prefix}optimize {ref}"
        if instructions is not None:
            again += f" instructions={shlex.quote(instructions)}"
        return Reply.notice(f"{estimate.describe()}\nSend `{again} confirm` to run it.")
    task = await dataprep.optimize(
        ref, instructions, requested_by=ctx.sender, room_id=ctx.message.room_id
    )
    follow_in_room(ctx, task)
    return Reply.notice(
        f"Started task {task.id}: cleaning {task.params['source']} "
        f"({task.progress['total']} records). Progress follows here."
    )


def only_words(args: Args, start: int) -> None:
    """Refuse stray words after the positional ones (only `confirm` may follow)."""
    stray = [word for word in args.words[start:] if word != "confirm"]
    if stray:
        raise UsageError(f'unexpected {stray[0]!r}: quote values with spaces, e.g. key="a b"')


def follow_in_room(ctx: CommandContext, task: DataTaskRow) -> None:
    """Show the task's progress in the room it was started from, then its outcome."""
    room_id = ctx.message.room_id
    sent: list[str] = []  # the progress message's event id, once sent

    async def show(current: DataTaskRow) -> None:
        line = fmt.notice(progress_line(current, Progress(**current.progress)))
        if not sent:
            sent.append(await ctx.room.send(room_id, line))
        else:
            ctx.room.edit(room_id, sent[0], line)
        if current.finished:
            await ctx.room.send(room_id, fmt.notice(final_text(current)))

    ctx.services.dataprep.follow(task.id, show, ctx.settings.matrix.progress_interval_s)


COMMANDS = (optimize,)
