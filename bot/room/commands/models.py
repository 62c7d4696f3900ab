"""`!models`, `!activate`, `!merge`, `!compare`, `!delete model|dataset`."""

from __future__ import annotations

import math

from bot.core.compare import Comparison, compare_models
from bot.matrix.format import text
from bot.room.commands.base import (
    Arg,
    Args,
    CommandContext,
    Option,
    Reply,
    command,
    group,
    subcommand,
)
from bot.room.text import models_table


@command(
    "models",
    help="Model versions (* marks the active one of each name) with their metrics.",
    example="models stories",
    args=(Arg("name", optional=True),),
)
async def models(ctx: CommandContext, args: Args) -> Reply:
    """A table of versions."""
    found = await ctx.services.models.versions(args.optional_word(0))
    if not found:
        return Reply.notice(f"No models yet. Train one with {ctx.prefix}train <dataset>.")
    return Reply(text("Models (newest first):\n") + models_table(found[:25]))


@command(
    "activate",
    help="Make a model version the active one of its name and the default for {prefix}generate.",
    example="activate stories@v2",
    level="admin",
    args=(Arg("model"),),
)
async def activate(ctx: CommandContext, args: Args) -> Reply:
    """Switch the active version."""
    model = await ctx.services.models.activate(args.word(0, "model"))
    return Reply.notice(f"{model.label} ({model.id}) is now active.")


@command(
    "merge",
    help="Fold a LoRA adapter into its base: a full model, the next version of its name.",
    example="merge stories-lora@v1",
    args=(Arg("model"),),
    slow=True,
)
async def merge(ctx: CommandContext, args: Args) -> Reply:
    """Merge an adapter version; the new version waits for `!activate` like any retrain."""
    merged = await ctx.services.models.merge(args.word(0, "model"))
    source = merged.metrics.get("merged_from", "the adapter")
    return Reply.notice(
        f"Merged {source} into a full model: {merged.label} ({merged.id}). "
        f"Use {ctx.prefix}activate {merged.label} to generate with it."
    )


@command(
    "compare",
    help="Two model versions side by side: eval loss on one dataset and greedy answers.",
    example="compare stories@v1 stories-lora@v1 once upon a time",
    args=(Arg("model"), Arg("model"), Arg("prompt", optional=True, rest=True)),
    options=(Option("dataset", shape="<dataset>", help="Measured on (the first's data)."),),
    slow=True,
)
async def compare(ctx: CommandContext, args: Args) -> Reply:
    """Eval loss on the same examples, then each model's answer to the prompt."""
    found = await compare_models(
        ctx.services,
        args.word(0, "model"),
        args.word(1, "model"),
        dataset=args.text("dataset"),
        prompt=args.rest(2) or None,
        requested_by=ctx.sender,
    )
    return Reply.notice(comparison_text(found))


def comparison_text(found: Comparison) -> str:
    """`a: eval loss 2.31 (perplexity 10.1)` per side, then each answer."""
    lines = [f"Compared on {found.dataset.label}:"]
    for side in found.sides:
        if side.eval_loss is None:
            lines.append(f"{side.model.label}: {side.problem}")
        else:
            loss = side.eval_loss
            lines.append(
                f"{side.model.label}: eval loss {loss:.4f} (perplexity "
                f"{math.exp(min(loss, 50)):.2f}) on {side.examples} examples"
            )
    if found.prompt:
        lines.append(f"Prompt: {found.prompt}")
        lines.extend(f"{side.model.label}: {side.answer}" for side in found.sides)
    return "\n".join(lines)


@subcommand(
    "model",
    help="Delete a model version.",
    example="delete model stories@v1",
    args=(Arg("id"),),
)
async def delete_model(ctx: CommandContext, args: Args) -> Reply:
    """Delete one model version (refused while in use)."""
    model = await ctx.services.models.delete(args.word(0, "id"))
    return Reply.notice(f"Deleted model {model.label} ({model.id}).")


@subcommand(
    "dataset",
    help="Delete a dataset version.",
    example="delete dataset stories@v1",
    args=(Arg("id"),),
)
async def delete_dataset(ctx: CommandContext, args: Args) -> Reply:
    """Delete one dataset version (refused while a job uses it)."""
    dataset = await ctx.services.datasets.delete(args.word(0, "id"))
    return Reply.notice(f"Deleted dataset {dataset.label} ({dataset.id}).")


delete = group(
    "delete",
    help="Delete a model version or a dataset version (refused while in use).",
    example="delete model stories@v1",
    level="admin",
    subcommands=(delete_model, delete_dataset),
)

COMMANDS = (models, activate, merge, compare, delete)
