"""`!train`: queue a fine-tuning job from a stored dataset."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from bot.core.jobs.hyperparameters import ALIASES
from bot.core.jobs.request import JobRequest
from bot.core.openai.options import REMOTE_ONLY
from bot.room.commands.base import Arg, Args, CommandContext, Option, Reply, command, options_dict
from bot.room.text import queued_text
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
        Option(
            "backend",
            shape="local|openai|ray",
            help="Where to train (default: trainer.default_backend).",
        ),
        Option("suffix", help="A name part for the OpenAI model (backend=openai)."),
        *(_hyper_option(key) for key in remote if key not in ALIASES and key != "suffix"),
    )


# `method=lora r=16` and friends, gathered into JobRequest.method for the backend to check.
METHOD_KEYS = {
    "r": "r",
    "lora_r": "r",
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
    "lora_targets": "targets",
}
METHOD_OPTIONS = (
    Option("method", shape="full|lora|dpo", help="How to train: all weights, a LoRA adapter, DPO."),
    *(Option(key, listed=False) for key in METHOD_KEYS),
    Option("beta", shape="X", listed=False, help="DPO's beta."),
)
# `workers=2 gpus=1 cpus=4`, gathered into JobRequest.resources.
RESOURCE_KEYS = {"workers": "workers", "gpus": "gpus_per_worker", "cpus": "cpus_per_worker"}
RESOURCE_OPTIONS = tuple(Option(key, shape="N", listed=False) for key in RESOURCE_KEYS)


def _method(args: Args) -> dict[str, Any] | None:
    """The raw method the options ask for; None when none was named."""
    options = args.options
    lora = {to: options[key] for key, to in METHOD_KEYS.items() if key in options}
    if "method" not in options and not lora and "beta" not in options:
        return None
    method: dict[str, Any] = {"type": options.get("method", "lora" if lora else "full")}
    if lora:
        method["lora"] = lora
    if "beta" in options:
        method["dpo"] = {"beta": options["beta"]}
    return method


def _resources(args: Args) -> dict[str, Any] | None:
    found = {to: args.options[key] for key, to in RESOURCE_KEYS.items() if key in args.options}
    return found or None


@command(
    "train",
    help="Fine-tune a model on a dataset; progress is edited into one message here.",
    example="train stories epochs=2 learning_rate=3e-4",
    args=(Arg("dataset"),),
    options=(
        Option("base", shape="tiny|small|<model>|<path>", help="The model to start from."),
        Option("name", shape="<model>", help="The name of the new model version."),
        *_hyper_options(),
        *METHOD_OPTIONS,
        *RESOURCE_OPTIONS,
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
        backend=args.options.get("backend", ""),
        method=_method(args),
        resources=_resources(args),
    )
    job = await ctx.services.jobs.submit(
        request, requested_by=ctx.sender, room_id=ctx.message.room_id
    )
    await ctx.follow_job(job.id)
    first = (await ctx.services.store.events.find(job.id, limit=1))[0].data
    return Reply.notice(queued_text(job, first, ctx.prefix))


COMMANDS = (train,)
