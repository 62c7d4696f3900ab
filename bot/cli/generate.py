"""`trainbot generate`: sample text from a trained model folder.

The sampling options are `trainer.spec.GenerateParams`' fields (defaults, help and
limits from there), so the CLI takes what HTTP and the room take.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import TYPE_CHECKING

from trainer.spec import GenerateParams

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# Option types by parameter; `stop` repeats and `keywords` is comma-separated.
NUMBER_TYPES: dict[str, type[int] | type[float]] = {
    "max_tokens": int,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "repetition_penalty": float,
    "seed": int,
}


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "generate",
        help="Generate text with a trained model.",
        description="Continue PROMPT with the model in MODEL_DIR and print the new text.",
    )
    parser.add_argument(
        "model_dir", metavar="MODEL_DIR", help="a model folder (trainbot train --out)"
    )
    parser.add_argument("prompt", metavar="PROMPT", nargs="?", default="", help="text to continue")
    for name, limit in GenerateParams.limits().items():
        flag = "--" + name.replace("_", "-")
        if name == "stop":
            parser.add_argument(flag, action="append", default=[], help=limit.help + " Repeatable.")
        elif name == "keywords":
            parser.add_argument(flag, default="", help=limit.help + " Comma-separated.")
        else:
            default = _default(name)
            shown = "" if default is None else f" (default {default})"
            parser.add_argument(
                flag, type=NUMBER_TYPES[name], default=default, help=limit.help + shown
            )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def _default(name: str) -> object:
    return next(f.default for f in dataclasses.fields(GenerateParams) if f.name == name)


def params_from(args: argparse.Namespace) -> GenerateParams:
    """The parameters given on the command line (defaults for the others)."""
    keywords = tuple(k.strip() for k in args.keywords.split(",") if k.strip())
    numbers = {name: getattr(args, name) for name in NUMBER_TYPES}
    return GenerateParams(**numbers, stop=tuple(args.stop), keywords=keywords)


def run(args: argparse.Namespace) -> int:
    """Generate in this process: a one-shot command gains nothing from a worker."""
    from bot.core.errors import Invalid
    from bot.core.generation import check_params
    from trainer.spec import GenerationRequest

    params = params_from(args)
    try:
        # No `trainer.max_new_tokens` setting here: the declared limit is the cap, and
        # the model's context window shortens the answer further.
        check_params(params)
    except Invalid as exc:
        print(f"trainbot: {exc.message}", file=sys.stderr)
        return 1
    request = GenerationRequest(args.model_dir, args.prompt, params)
    from trainer.workers.generation_child import ModelCache
    from trainer.workers.generation_engine import generate_text

    began = time.perf_counter()
    try:
        result = generate_text(ModelCache(1), request)
    except (OSError, ValueError) as exc:
        print(f"trainbot: cannot generate: {exc}", file=sys.stderr)
        return 1
    latency = time.perf_counter() - began
    if args.json:
        print(
            json.dumps(
                {
                    "text": result.text,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "latency_s": latency,
                }
            )
        )
    else:
        print(result.text)
    return 0
