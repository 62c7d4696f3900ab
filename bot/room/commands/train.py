"""`!train`: queue a fine-tuning job from a stored dataset."""

from __future__ import annotations

from bot.core.jobs.hyperparameters import ALIASES
from bot.core.jobs.service import JobRequest
from bot.core.openai.options import REMOTE_ONLY
from bot.room.commands.base import Args, CommandContext, Reply, command, options_dict
from bot.room.text import duration
from trainer.spec import Hyperparameters

# backend=openai takes some knobs of its own; the job service says which backend takes which.
HYPER_KEYS = (*Hyperparameters.field_names(), *ALIASES, *REMOTE_ONLY)


@command(
    "train",
    usage="<dataset> [base=tiny|small|<model>|<path>] [name=<model>] [epochs=N] "
    "[max_steps=N] [learning_rate=X] [batch_size=N] [block_size=N] [seed=N] … "
    "[backend=openai [suffix=…]]",
    help="Fine-tune a model on a dataset; progress is edited into one message here.",
    example="train stories epochs=2 learning_rate=3e-4",
    keys=("base", "name", "backend", *HYPER_KEYS),
    min_words=1,
    slow=True,
)
async def train(ctx: CommandContext, args: Args) -> Reply:
    """Validate, queue, and acknowledge with the estimate."""
    request = JobRequest(
        dataset=args.word(0, "dataset"),
        base=args.options.get("base"),
        name=args.options.get("name"),
        hyperparameters=options_dict(args, HYPER_KEYS),
        backend=args.options.get("backend", "local"),
    )
    job = await ctx.services.jobs.submit(
        request, requested_by=ctx.sender, room_id=ctx.message.room_id
    )
    first = (await ctx.services.store.events.find(job.id, limit=1))[0].data
    position = first.get("position", 1)
    waiting = f", {position - 1} ahead in the queue" if position > 1 else ""
    return Reply.notice(
        f"Queued job {job.id}: {job.name} from {first.get('dataset')} on {job.base}"
        f"{waiting}; estimated {duration(first.get('estimate_s'))} of training. "
        f"Progress will appear here; {ctx.settings.matrix.command_prefix}cancel {job.id} stops it."
    )


COMMANDS = (train,)
