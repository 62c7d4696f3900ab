"""`!datasets`, `!dataset add` (as a reply to an uploaded file), `!dataset stats`,
`!dataset generate` (from a template, with the chat model)."""

from __future__ import annotations

import shlex

from bot.core.dataprep.template import make_spec, split_values
from bot.matrix.format import pre, text
from bot.room.commands.args import OPTION
from bot.room.commands.base import (
    OPENAI_KEY,
    Arg,
    Args,
    CommandContext,
    Option,
    Reply,
    UsageError,
    command,
    group,
    subcommand,
)
from bot.room.commands.dataprep import CONFIRM
from bot.room.text import datasets_table

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
GENERATE_OPTIONS = (
    Option("template", shape='"…{a}…{b}…"', required=True, help="What to ask the chat model."),
    Option("prompt", shape='"{a}, {b}"', help="The prompt stored with each answer."),
    Option("max_tokens", kind="int", help="Output tokens per answer at most."),
    Option("temperature", kind="float", help="Sampling temperature of the chat model."),
    CONFIRM,
)


@command(
    "datasets",
    help="Stored dataset versions with their sizes.",
    example="datasets",
    args=(Arg("name", optional=True),),
)
async def datasets(ctx: CommandContext, args: Args) -> Reply:
    """A table of versions."""
    found = await ctx.services.datasets.versions(args.optional_word(0))
    if not found:
        return Reply.notice(
            "No datasets yet. Upload a JSONL, CSV or TXT file here and answer it with "
            f"{ctx.prefix}dataset add <name>."
        )
    return Reply(text("Datasets (newest first):\n") + datasets_table(found[:25]))


@subcommand(
    "add",
    help="Store the file your message replies to as a new version.",
    example="dataset add stories",
    args=(Arg("name"),),
    options=(
        Option("format", shape="F", help="text, completion, chat, keywords or csv."),
        Option("skip_invalid", kind="flag", help="Store the valid rows, skip the others."),
    ),
)
async def add(ctx: CommandContext, args: Args) -> Reply:
    """Download the replied-to upload and store it as a version."""
    reply_to = ctx.message.reply_to
    if reply_to is None:
        raise UsageError("send this as a reply to an uploaded JSONL, CSV or TXT file")
    upload = await ctx.room.fetch_event(ctx.message.room_id, reply_to)
    if upload is None or upload.kind != "file" or not upload.url:
        raise UsageError("the message you replied to is not an uploaded file")
    too_large = UsageError(f"the file is larger than {MAX_UPLOAD_BYTES / 2**20:g} MiB")
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        raise too_large  # declared too large: not even downloaded
    data = await ctx.room.download(upload.url, upload.file_info)
    # The declared size is the sender's word; what counts is what arrived.
    if len(data) > MAX_UPLOAD_BYTES:
        raise too_large
    stored = await ctx.services.datasets.upload_file(
        args.word(0, "name"),
        upload.filename or upload.body or "upload.jsonl",
        data,
        format=args.text("format"),
        skip_invalid=args.flag("skip_invalid"),
        created_by=ctx.sender,
        room_id=ctx.message.room_id,
    )
    stats = stored.dataset.stats.get("text", "")
    return Reply(
        text(f"Stored {stored.dataset.label} (id {stored.dataset.id}).\n")
        + pre(stored.summary + "\n\n" + stats)
    )


@subcommand(
    "stats",
    help="Token statistics of a stored dataset.",
    example="dataset stats stories",
    args=(Arg("name"),),
)
async def stats(ctx: CommandContext, args: Args) -> Reply:
    """The statistics stored with a version."""
    found = await ctx.services.datasets.resolve(args.word(0, "name"))
    table = found.stats.get("text") or "no statistics stored"
    return Reply(text(f"{found.label} ({found.format}, id {found.id})\n") + pre(table))


@subcommand(
    "generate",
    help="The chat model completes the template for every combination of the lists.",
    example='dataset generate elves template="Describe a {race}" race=elf,dwarf',
    args=(Arg("name"),),
    options=GENERATE_OPTIONS,
    extra="a=x,y b=z,w",
    needs=OPENAI_KEY,
)
async def generate(ctx: CommandContext, args: Args) -> Reply:
    """The count and cost, or with `confirm` the task."""
    ctx.services.dataprep.check_available()
    name = args.word(0, "name")
    repeated = _repeated_keys(ctx.message.body)
    if repeated:
        raise UsageError(f"{', '.join(repeated)} is given more than once: one list per name")
    template = args.text("template")
    if template is None:
        raise UsageError('give the generation prompt: template="Describe a {race}" race=elf,dwarf')
    declared = {option.key for option in GENERATE_OPTIONS}
    lists = {
        key: split_values(key, value) for key, value in args.options.items() if key not in declared
    }
    spec = make_spec(
        template, lists, args.text("prompt"), args.integer("max_tokens"), args.real("temperature")
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
    await ctx.follow_task(task)
    return Reply.notice(
        f"Started task {task.id}: generating dataset {name} ({spec.count} pairs). "
        "Progress follows here."
    )


def _repeated_keys(line: str) -> list[str]:
    try:
        keys = [m["key"] for token in shlex.split(line) if (m := OPTION.match(token))]
    except ValueError:
        return []  # the command's own parsing reports unreadable quoting
    return sorted({key for key in keys if keys.count(key) > 1})


dataset = group(
    "dataset",
    help="add: store the file your message replies to (JSONL, CSV or TXT) as a new "
    "version; stats: token statistics of a stored dataset; generate: the chat model "
    "completes the template for every combination of the comma-separated lists and each "
    'answer is stored with the filled prompt (default: the values joined with ", " in '
    "the template's order) as a prompt/completion pair. Answers the count and cost first; "
    "add confirm to run it.",
    example="dataset add stories",
    subcommands=(add, stats, generate),
    slow=True,
)

COMMANDS = (datasets, dataset)
