"""`trainbot generate`: sample text from a trained model folder."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

DEFAULT_CAP = 1024


def register(subparsers: Any) -> None:
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
    parser.add_argument(
        "--max-tokens", type=int, default=64, help="new tokens at most (default 64)"
    )
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    parser.add_argument("--top-k", type=int, default=50, help="top-k sampling (default 50)")
    parser.add_argument("--keywords", default="", help="comma-separated keywords to condition on")
    parser.add_argument("--stop", action="append", default=[], help="cut at this text (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed for reproducible samples")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate in this process: a one-shot command gains nothing from a worker."""
    from trainer.spec import GenerationRequest

    keywords = tuple(k.strip() for k in args.keywords.split(",") if k.strip())
    request = GenerationRequest(
        model_dir=args.model_dir,
        prompt=args.prompt,
        max_new_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop=tuple(args.stop),
        keywords=keywords,
    )
    from trainer.generation_child import ModelCache, generate_text

    began = time.perf_counter()
    try:
        result = generate_text(ModelCache(1), request, DEFAULT_CAP)
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
