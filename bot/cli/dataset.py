"""`trainbot dataset stats|validate FILE`: check a dataset before training it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.spec import DATASET_FORMATS

if TYPE_CHECKING:
    from bot.cli import Subparsers
    from trainer.data import DatasetReport, DatasetStats
    from trainer.spec import Hyperparameters


def register(subparsers: Subparsers) -> None:
    """Add `dataset` with its `stats` and `validate` subcommands."""
    parser = subparsers.add_parser(
        "dataset",
        help="Validate a dataset file and show its token statistics.",
        description="Check a dataset file the way a training job would, before training.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("stats", "Validate FILE and print token statistics and a training-time estimate."),
        ("validate", "Validate FILE and list every bad row with its line number."),
    ):
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument("file", type=Path, metavar="FILE")
        sub.add_argument("--format", choices=DATASET_FORMATS, help="force a format")
        sub.add_argument("--skip-invalid", action="store_true", help="count only valid rows")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument("--min-examples", type=int, default=10, help="fewest valid examples")
        if name == "stats":
            sub.add_argument("--base", default="tiny", help="tiny, small or a model folder")
            sub.add_argument("--epochs", type=float, default=None, help="planned epochs")
            sub.add_argument("--block-size", type=int, default=None, help="tokens per block")
            sub.add_argument("--val-fraction", type=float, default=None, help="held-out share")
            sub.add_argument(
                "--throughput-file",
                type=Path,
                default=Path("data/throughput.json"),
                help="measured speeds for the time estimate (default: data/throughput.json)",
            )
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the dataset may be trained, 2 when it is refused."""
    from trainer.data import read_dataset
    from trainer.spec import DataOptions, Hyperparameters

    hp = Hyperparameters()
    block_size = getattr(args, "block_size", None) or hp.block_size
    options = DataOptions(
        format=args.format, skip_invalid=args.skip_invalid, min_examples=args.min_examples
    )
    try:
        report = read_dataset(args.file, options, block_size=block_size)
    except OSError as exc:
        print(f"trainbot: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"report": report.to_dict()}
    text = report.summary()
    if report.ok and args.action == "stats":
        stats = _stats(args, report, hp, block_size)
        result["stats"] = stats.to_dict()
        text += "\n\n" + stats.format_text()
    print(json.dumps(result, indent=2) if args.json else text)
    return 0 if report.ok else 2


def _stats(
    args: argparse.Namespace, report: DatasetReport, hp: Hyperparameters, block_size: int
) -> DatasetStats:
    from trainer.data import compute_stats
    from trainer.throughput import tokens_per_second
    from trainer.tokenizer import load_tokenizer_file, train_bpe_tokenizer

    if Path(args.base).is_dir():
        tokenizer = load_tokenizer_file(args.base)
    else:  # a preset: its tokenizer is trained on the dataset, as training does
        tokenizer = train_bpe_tokenizer(t for ex in report.examples for t, _ in ex.segments)
    return compute_stats(
        report,
        tokenizer,
        block_size,
        args.epochs or hp.epochs,
        args.val_fraction if args.val_fraction is not None else hp.val_fraction,
        tokens_per_second(args.base, args.throughput_file),
        hp.seed,
    )
