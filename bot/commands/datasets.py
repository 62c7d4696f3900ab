"""`!datasets`, `!dataset add` (as a reply to an uploaded file), `!dataset stats`."""

from __future__ import annotations

from bot.commands.base import Args, CommandContext, Reply, UsageError, command
from bot.commands.render import datasets_table
from bot.matrix.format import Formatted, text

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@command(
    "datasets",
    usage="[name]",
    help="Stored dataset versions with their sizes.",
    example="datasets",
)
async def datasets(ctx: CommandContext, args: Args) -> Reply:
    """A table of versions."""
    found = await ctx.services.datasets.versions(args.words[0] if args.words else None)
    if not found:
        return Reply.notice(
            "No datasets yet. Upload a JSONL, CSV or TXT file here and answer it with "
            "!dataset add <name>."
        )
    return Reply(text("Datasets (newest first):\n") + datasets_table(found[:25]))


@command(
    "dataset",
    usage="add <name> [format=F] [skip_invalid=true] | stats <name>",
    help="add: store the file your message replies to (JSONL, CSV or TXT) as a new "
    "version; stats: token statistics of a stored dataset.",
    example="dataset add stories",
    keys=("format", "skip_invalid"),
    min_words=2,
    slow=True,
)
async def dataset(ctx: CommandContext, args: Args) -> Reply:
    """Dispatch the `add` and `stats` subcommands."""
    action, name = args.word(0, "add or stats"), args.word(1, "name")
    if action == "stats":
        found = await ctx.services.datasets.resolve(name)
        table = found.stats.get("text") or "no statistics stored"
        return Reply(text(f"{found.label} ({found.format}, id {found.id})\n") + _pre(table))
    if action != "add":
        raise UsageError(f"unknown subcommand {action!r}: use add or stats")
    return await _add(ctx, args, name)


async def _add(ctx: CommandContext, args: Args, name: str) -> Reply:
    reply_to = ctx.message.reply_to
    if reply_to is None:
        raise UsageError("send this as a reply to an uploaded JSONL, CSV or TXT file")
    upload = await ctx.room.fetch_event(ctx.message.room_id, reply_to)
    if upload is None or upload.kind != "file" or not upload.url:
        raise UsageError("the message you replied to is not an uploaded file")
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        raise UsageError(f"the file is larger than {MAX_UPLOAD_BYTES >> 20} MiB")
    data = await ctx.room.download(upload.url, upload.file_info)
    stored = await ctx.services.datasets.upload_file(
        name,
        upload.filename or upload.body or "upload.jsonl",
        data,
        format=args.options.get("format"),
        skip_invalid=args.flag("skip_invalid"),
        created_by=ctx.sender,
        room_id=ctx.message.room_id,
    )
    stats = stored.dataset.stats.get("text", "")
    return Reply(text(f"Stored {stored.dataset.label} (id {stored.dataset.id}).\n")
                 + _pre(stored.summary + "\n\n" + stats))  # fmt: skip


def _pre(value: str) -> Formatted:
    import html

    return Formatted(value, f"<pre>{html.escape(value)}</pre>")


COMMANDS = (datasets, dataset)
