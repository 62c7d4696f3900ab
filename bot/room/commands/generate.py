"""`!generate`: text from the active model or a named one.

Its options are `trainer.spec.GenerateParams`, the one declaration of the generation
parameters: keys, kinds, defaults and limits come from there, never typed again here.
"""

from __future__ import annotations

import dataclasses
import typing

from bot.matrix.format import bold, text
from bot.room.commands.args import OptionKind
from bot.room.commands.base import Arg, Args, CommandContext, Option, Reply, command
from trainer.spec import GenerateParams, Limit

KINDS: dict[object, OptionKind] = {
    int: "int",
    float: "float",
    int | None: "int",
    tuple[str, ...]: "list",
}


def param_options() -> tuple[Option, ...]:
    """One option per generation parameter, as `GenerateParams` declares it."""
    hints = typing.get_type_hints(GenerateParams)
    limits = GenerateParams.limits()
    return tuple(
        Option(
            field.name,
            kind=KINDS[hints[field.name]],
            help=_help(limits[field.name]),
            default=field.default,
        )
        for field in dataclasses.fields(GenerateParams)
    )


def _help(limit: Limit) -> str:
    if limit.low is None or limit.high is None:
        return limit.help
    low, high = f"{limit.low:g}", f"{limit.high:g}"
    return f"{limit.help} ({'above ' if limit.low_open else ''}{low} to {high})"


PARAMS = param_options()


@command(
    "generate",
    help="Continue a prompt with the active model (or model=name@vN).",
    example="generate keywords=boat,dog Once upon a time",
    args=(Arg("prompt", optional=True, rest=True),),
    options=(Option("model", help="A model name or version (default: the active one)."), *PARAMS),
)
async def generate(ctx: CommandContext, args: Args) -> Reply:
    """Show a typing notice while the model writes, then answer with prompt + continuation."""
    params = dataclasses.replace(GenerateParams(), **args.given([o.key for o in PARAMS]))
    prompt = args.rest()
    ctx.room.typing(ctx.message.room_id, True)
    try:
        result = await ctx.services.generation.generate(
            prompt, model=args.text("model"), params=params, requested_by=ctx.sender
        )
    finally:
        ctx.room.typing(ctx.message.room_id, False)
    footer = (
        f"\n— {result.model.label}, {result.completion_tokens} tokens in {result.latency_s:.1f}s"
    )
    return Reply(text(prompt) + bold(result.text) + text(footer))


COMMANDS = (generate,)
