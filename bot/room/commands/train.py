"""`!train`: queue a fine-tuning job from a stored dataset."""

from __future__ import annotations

import dataclasses
import typing

from bot.core.jobs.hyperparameters import ALIASES
from bot.core.jobs.request import JobRequest
from bot.core.openai.options import REMOTE_ONLY
from bot.room.commands.base import Arg, Args, CommandContext, Option, Reply, command, options_dict
from bot.room.text import duration
from trainer.spec import Hyperparameters

# The hyperparameters the usage line names; the others are accepted and shown as `…`.
LISTED = ("epochs", "max_steps", "learning_rate", "batch_size", "block_size", "seed")
# backend=openai takes some knobs of its own; the job service says which backend takes which.
HYPER_KEYS = tuple(dict.fromkeys((*Hyperparameters.field_names(), *ALIASES, *REMOTE_ONLY)))


def _hyper_option(key: str) -> Option:
    """Passed on as written: the job service checks every hyperparameter in one go."""
    kind = typing.get_type_hints(Hyperparameters).get(ALIASES.get(key, key))
    shape = {int: "N", float: "X"}.get(kind, "…") if isinstance(kind, type) else "…"
    return Option(key, shape=shape, listed=key in LISTED)


def _hyper_options() -> tuple[Option, ...]:
    names = {f.name for f in dataclasses.fields(Hyperparameters)}
    local = [_hyper_option(key) for key in LISTED]
    local += [_hyper_option(key) for key in HYPER_KEYS if key in names and key not in LISTED]
    remote = [key for key in HYPER_KEYS if key not in names]
    return (
        *local,
        *(_hyper_option(key) for key in remote if key in ALIASES),
        Option("backend", shape="openai", help="Train at OpenAI instead of here."),
        Option("suffix", help="A name part for the OpenAI model (backend=openai)."),
        *(_hyper_option(key) for key in remote if key not in ALIASES and key != "suffix"),
    )


@command(
    "train",
    help="Fine-tune a model on a dataset; progress is edited into one message here.",
    example="train stories epochs=2 learning_rate=3e-4",
    args=(Arg("dataset"),),
    options=(
        Option("base", shape="tiny|small|<model>|<path>", help="The model to start from."),
        Option("name", shape="<model>", help="The name of the new model version."),
        *_hyper_options(),
    ),
    slow=True,
)
async def train(ctx: CommandContext, args: Args) -> Reply:
    """Validate, queue, and acknowledge with the estimate."""
    request = JobRequest(
        dataset=args.word(0, "dataset"),
        base=args.text("base"),
        name=args.text("name"),
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
        f"Progress will appear here; {ctx.prefix}cancel {job.id} stops it."
    )


COMMANDS = (train,)
