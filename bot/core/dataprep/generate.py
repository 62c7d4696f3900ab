"""Generate: a dataset of `{"prompt", "completion"}` pairs from a template, one chat call
per combination of its values. An empty answer leaves its pair out and is reported."""

from __future__ import annotations

from typing import Any

from bot.core.dataprep.chat import PricedChat, Tally, run_bounded
from bot.core.dataprep.estimate import Estimate
from bot.core.dataprep.progress import LiveTask
from bot.core.dataprep.tasks import Prepared
from bot.core.dataprep.template import TemplateSpec
from bot.core.errors import Invalid
from bot.core.naming import check_name
from trainer.data.blocks import estimate_tokens


def estimate_generation(
    chat: PricedChat, name: str, spec: TemplateSpec, min_examples: int
) -> Estimate:
    """What generating every combination would cost; Invalid when too few pairs result."""
    check_name(name, "dataset")
    if spec.count < min_examples:
        raise Invalid(
            f"{spec.count} combinations make {spec.count} pairs; a dataset needs at least "
            f"{min_examples} (trainer.min_examples): add values to the lists"
        )
    sent = sum(estimate_tokens(c.generation_prompt) for c in spec.combinations())
    return chat.estimate(
        "generate", name, spec.count, Tally(sent, spec.count * spec.max_tokens), True
    )


def generation_params(spec: TemplateSpec, estimate: Estimate) -> dict[str, Any]:
    """As stored with the task."""
    return {
        "template": spec.template,
        "prompt": spec.prompt,
        "variables": {k: list(v) for k, v in spec.variables.items()},
        "max_tokens": spec.max_tokens,
        "temperature": spec.temperature,
        "estimate": estimate.to_dict(),
    }


async def generate(spec: TemplateSpec, chat: PricedChat, live: LiveTask) -> Prepared:
    """The pairs the chat model completed, and the report naming the empty answers."""
    combinations = spec.combinations()
    answers: list[str | None] = [None] * len(combinations)
    tally = Tally()

    async def work(index: int) -> None:
        combo = combinations[index]
        messages = [{"role": "user", "content": combo.generation_prompt}]
        answer = await chat.ask(
            messages,
            f"pair {combo.number} ({combo.describe()})",
            tally,
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
        )
        answers[index] = answer.text.strip() or None
        live.advance(invalid=answers[index] is None)

    await run_bounded(len(combinations), work, chat.concurrency)
    pairs = [
        {"prompt": combo.final_prompt, "completion": text}
        for combo, text in zip(combinations, answers, strict=True)
        if text
    ]
    invalid = [
        {
            "where": f"pair {c.number} ({c.describe()})",
            "line": c.number,
            "reason": "the model returned an empty completion; left out",
        }
        for c, text in zip(combinations, answers, strict=True)
        if not text
    ]
    report = {"stored": len(pairs), "invalid": invalid, "usage": chat.usage(tally)}
    return Prepared(pairs, "completion", report)
