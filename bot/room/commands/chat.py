"""`!chat`: a conversation with a model in a Matrix thread, answered as it is written.

`!chat [model=…] <message>` starts a thread on the command; every reply in that thread
(with or without `!chat`) continues the conversation (`bot.core.chat`), and `model=` in
the thread switches model. The answer is one message, edited at most once a second
while the model writes (clients dislike faster edits), then finalised with its model
and token count. The words are taken as written: no quoting rules, and `key=value`
inside the message is text, only leading `model=` is an option.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from bot.core.chat import Conversation
from bot.core.generation import Generation
from bot.matrix import format as fmt
from bot.room.commands.args import Args, UsageError
from bot.room.commands.base import Arg, Command, CommandContext, Option, Reply, command
from trainer.spec import GenerateParams, Piece

if TYPE_CHECKING:
    from bot.core.services import Services
    from bot.matrix.types import IncomingMessage
    from bot.settings import Settings

EDIT_EVERY_S = 1.0  # Matrix clients dislike faster edits
WRITING = "…"
LEADING_MODEL = re.compile(r"\s*model=(?P<model>\S+)(?P<rest>.*)", re.DOTALL)
CHAT_PARAMS = GenerateParams(max_tokens=128, temperature=0.7, repetition_penalty=1.1)


@dataclass(frozen=True)
class RawCommand(Command):
    """A command whose words are taken as written (a chat message is not shell words)."""

    def route(self, line: str | Sequence[str]) -> tuple[Command, Sequence[str]]:
        return self, (line if isinstance(line, str) else " ".join(line),)

    def parse(self, tokens: Sequence[str]) -> Args:
        said, model = (tokens[0] if tokens else "").strip(), None
        match = LEADING_MODEL.fullmatch(said)
        if match:
            model, said = match["model"], match["rest"].strip()
        options = {"model": model} if model else {}
        return Args((said,) if said else (), options, dict(options))


def thread_reply(services: Services, settings: Settings, message: IncomingMessage) -> str | None:
    """The `chat` line for a plain reply in a `!chat` thread; None for any other message."""
    if message.thread_root is None or message.sender == settings.matrix.user_id:
        return None
    known = services.generation.conversations.get(message.room_id, message.thread_root)
    return f"chat {message.body}" if known is not None else None


async def _chat(ctx: CommandContext, args: Args) -> Reply:
    message = ctx.message
    root = message.thread_root or message.event_id  # a new thread starts on the command
    conversations = ctx.services.generation.conversations
    model = args.text("model")
    if model is not None:
        await ctx.services.models.resolve(model)  # an unknown model is refused up front
    conversation = conversations.get(message.room_id, root)
    if conversation is None:
        conversation = conversations.start(message.room_id, root, model)
    elif model is not None:
        conversation.model = model
        if not args.words:
            return Reply.notice(f"This thread now talks to {model}.")
    if not args.words:
        raise UsageError("say something to the model")
    conversation.messages.append({"role": "user", "content": args.words[0]})
    in_thread = replace(message, thread_root=root)
    answer_id = await ctx.room.send(message.room_id, fmt.reply(in_thread, WRITING))
    try:
        done = await _stream(ctx, conversation, in_thread, answer_id)
    except Exception:
        conversation.messages.pop()  # the turn did not happen; the person may retry it
        ctx.room.edit(message.room_id, answer_id, fmt.reply(in_thread, "(no answer)"))
        raise
    conversation.messages.append({"role": "assistant", "content": done.text.strip()})
    ctx.room.edit(message.room_id, answer_id, fmt.reply(in_thread, _final(conversation, done)))
    return Reply(fmt.text(""))  # answered in place: the dispatcher sends nothing more


async def _stream(
    ctx: CommandContext, conversation: Conversation, message: IncomingMessage, answer_id: str
) -> Generation:
    """Write the answer into `answer_id` as it comes, at most one edit a second."""
    written, last_edit, shown = "", time.monotonic(), ""
    stream = ctx.services.generation.stream(
        "",
        model=conversation.model,
        params=CHAT_PARAMS,
        requested_by=ctx.sender,
        messages=conversation.messages,
    )
    async for event in stream:
        if isinstance(event, Piece):
            written += event.text
            if (
                written.strip()
                and written != shown
                and time.monotonic() - last_edit >= EDIT_EVERY_S
            ):
                ctx.room.edit(message.room_id, answer_id, fmt.reply(message, written + WRITING))
                shown, last_edit = written, time.monotonic()
        else:
            conversation.forget_oldest(event.dropped_messages)
            return event
    raise RuntimeError("the generation ended without a result")


def _final(conversation: Conversation, done: Generation) -> fmt.Formatted:
    footer = f"\n— {done.model.label}, {done.completion_tokens} tokens"
    if done.dropped_messages and not conversation.told_dropped:
        conversation.told_dropped = True
        footer += "; the oldest turns no longer fit the model's context and were dropped"
    return fmt.text(done.text.strip() or "(the model said nothing)") + fmt.text(footer)


_declared = command(
    "chat",
    help="Talk with a model in a thread; reply in the thread to go on "
    "(model=name@vN there switches model).",
    example="chat model=helper@v2 What is a LoRA adapter?",
    args=(Arg("message", optional=True, rest=True),),
    options=(Option("model", help="A model name or version (default: the active one)."),),
)(_chat)
chat = RawCommand(**{f.name: getattr(_declared, f.name) for f in fields(_declared)})

COMMANDS = (chat,)
