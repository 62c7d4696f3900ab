"""`!models`, `!activate`, `!delete`."""

from __future__ import annotations

from bot.matrix.format import text
from bot.room.commands.base import Args, CommandContext, Reply, UsageError, command
from bot.room.text import models_table


@command(
    "models",
    usage="[name]",
    help="Model versions (* marks the active one of each name) with their metrics.",
    example="models stories",
)
async def models(ctx: CommandContext, args: Args) -> Reply:
    """A table of versions."""
    found = await ctx.services.models.versions(args.words[0] if args.words else None)
    if not found:
        return Reply.notice("No models yet. Train one with !train <dataset>.")
    return Reply(text("Models (newest first):\n") + models_table(found[:25]))


@command(
    "activate",
    usage="<model>",
    help="Make a model version the active one of its name and the default for !generate.",
    example="activate stories@v2",
    level="admin",
    min_words=1,
)
async def activate(ctx: CommandContext, args: Args) -> Reply:
    """Switch the active version."""
    model = await ctx.services.models.activate(args.word(0, "model"))
    return Reply.notice(f"{model.label} ({model.id}) is now active.")


@command(
    "delete",
    usage="model|dataset <id>",
    help="Delete a model version or a dataset version (refused while in use).",
    example="delete model stories@v1",
    level="admin",
    min_words=2,
)
async def delete(ctx: CommandContext, args: Args) -> Reply:
    """Delete one version of a model or dataset."""
    kind, ref = args.word(0, "model or dataset"), args.word(1, "id")
    if kind == "model":
        model = await ctx.services.models.delete(ref)
        return Reply.notice(f"Deleted model {model.label} ({model.id}).")
    if kind == "dataset":
        dataset = await ctx.services.datasets.delete(ref)
        return Reply.notice(f"Deleted dataset {dataset.label} ({dataset.id}).")
    raise UsageError(f"say what to delete: model or dataset, not {kind!r}")


COMMANDS = (models, activate, delete)
