"""`!generate`: text from the active model or a named one."""

from __future__ import annotations

from bot.core.generation import GenerateParams
from bot.matrix.format import Formatted, text
from bot.room.commands.base import Args, CommandContext, Reply, command


@command(
    "generate",
    usage="[model=…] [max_tokens=N] [temperature=X] [top_p=X] [seed=N] [keywords=a,b] <prompt>",
    help="Continue a prompt with the active model (or model=name@vN).",
    example="generate keywords=boat,dog Once upon a time",
    keys=("model", "max_tokens", "temperature", "top_p", "top_k", "seed", "keywords"),
)
async def generate(ctx: CommandContext, args: Args) -> Reply:
    """Show a typing notice while the model writes, then answer with prompt + continuation."""
    keywords = tuple(k.strip() for k in args.options.get("keywords", "").split(",") if k.strip())
    params = GenerateParams(
        max_tokens=args.number("max_tokens", int, 64),
        temperature=args.number("temperature", float, 0.8),
        top_p=args.number("top_p", float, 0.95),
        top_k=args.number("top_k", int, 50),
        seed=args.number("seed", int),
        keywords=keywords,
    )
    prompt = args.rest()
    ctx.room.typing(ctx.message.room_id, True)
    try:
        result = await ctx.services.generation.generate(
            prompt, model=args.options.get("model"), params=params, requested_by=ctx.sender
        )
    finally:
        ctx.room.typing(ctx.message.room_id, False)
    body = text(prompt) + Formatted(result.text, f"<b>{_esc(result.text)}</b>")
    footer = (
        f"\n— {result.model.label}, {result.completion_tokens} tokens in {result.latency_s:.1f}s"
    )
    return Reply(body + text(footer))


def _esc(value: str) -> str:
    import html

    return html.escape(value).replace("\n", "<br>")


COMMANDS = (generate,)
