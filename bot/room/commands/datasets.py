"""`!datasets`, `!dataset add` (as a reply to an uploaded file), `!dataset stats`,
`!dataset generate` (from a template, with the chat model)."""

from __future__ import annotations

import shlex

from bot.core.dataprep.template import make_spec, split_values
from bot.matrix.format import Formatted, text
from bot.room.commands.base import ANY_KEY, OPTION, Args, CommandContext, Reply, UsageError, command
from bot.room.commands.dataprep import follow_in_room, only_words
from bot.room.text import datasets_table

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ADD_KEYS = ("format", "skip_invalid")
GENERATE_KEYS = ("template", "prompt", "max_tokens", "temperature")


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
    usage="add <name> [format=F] [skip_invalid=true] | stats <name> | generate <name> "
    'template="…{a}…{b}…" a=x,y b=z,w [prompt="{a}, {b}"] [max_tokens=N] [temperature=X] '
    "[confirm]",
    help="add: store the file your message replies to (JSONL, CSV or TXT) as a new "
    "version; stats: token statistics of a stored dataset; generate: the chat model "
    "completes the template for every combination of the comma-separated lists and each "
    'answer is stored with the filled prompt (default: the values joined with ", " in '
    "the template's order) as a prompt/completion pair. Answers the count and cost first; "
    "add confirm to run it.",
    example="dataset add stories",
    keys=(ANY_KEY,),
    min_words=2,
    slow=True,
)
async def dataset(ctx: CommandContext, args: Args) -> Reply:
    """Dispatch the `add`, `stats` and `generate` subcommands."""
    action, name = args.word(0, "add, stats or generate"), args.word(1, "name")
    if action == "generate":
        return await _generate(ctx, args, name)
    allowed = ADD_KEYS if action == "add" else ()
    unknown = [key for key in args.options if key not in allowed]
    if unknown:
        known = f" (known: {', '.join(allowed)})" if allowed else ""
        raise UsageError(f"unknown option {unknown[0]!r}{known}")
    if action == "stats":
        found = await ctx.services.datasets.resolve(name)
        table = found.stats.get("text") or "no statistics stored"
        return Reply(text(f"{found.label} ({found.format}, id {found.id})\n") + _pre(table))
    if action != "add":
        raise UsageError(f"unknown subcommand {action!r}: use add, stats or generate")
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
    return Reply(
        text(f"Stored {stored.dataset.label} (id {stored.dataset.id}).\n")
        + _pre(stored.summary + "\n\n" + stats)
    )


async def _generate(ctx: CommandContext, args: Args, name: str) -> Reply:
    ctx.services.dataprep.check_available()
    only_words(args, 2)
    repeated = _repeated_keys(ctx.message.body)
    if repeated:
        raise UsageError(f"{', '.join(repeated)} is given more than once: one list per name")
    template = args.options.get("template")
    if template is None:
        raise UsageError('give the generation prompt: template="Describe a {race}" race=elf,dwarf')
    lists = {
        key: split_values(key, value)
        for key, value in args.options.items()
        if key not in GENERATE_KEYS
    }
    spec = make_spec(
        template,
        lists,
        args.options.get("prompt"),
        args.number("max_tokens", int),
        args.number("temperature", float),
    )
    dataprep = ctx.services.dataprep
    if not args.flag("confirm"):
        estimate = await dataprep.estimate_generate(name, spec)
        first = spec.combinations()[0]
        return Reply.notice(
            f"{estimate.describe()}\nThe first asks “{first.generation_prompt}” and stores "
            f"the prompt “{first.final_prompt}”.\nSend the same command with confirm at the "
            "end to run it."
        )
    task = await dataprep.generate(name, spec, requested_by=ctx.sender, room_id=ctx.message.room_id)
    follow_in_room(ctx, task)
    return Reply.notice(
        f"Started task {task.id}: generating {name} ({spec.count} pairs). Progress follows here."
    )


def _repeated_keys(line: str) -> list[str]:
    try:
        keys = [m["key"] for token in shlex.split(line) if (m := OPTION.match(token))]
    except ValueError:
        return []  # the command's own parsing reports unreadable quoting
    return sorted({key for key in keys if keys.count(key) > 1})


def _pre(value: str) -> Formatted:
    import html

    return Formatted(value, f"<pre>{html.escape(value)}</pre>")


COMMANDS = (datasets, dataset)
