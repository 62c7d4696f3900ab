"""The `trainbot` command line: one module per subcommand, each with `register()`."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    # argparse's sub-parser action, which each subcommand module's `register` adds to.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

# Each module in bot/cli/ with this name defines `register(subparsers)`; the subcommand
# it adds sets `func(args) -> int`. Heavy imports happen inside `func`, so `--help`
# stays fast and the main process never imports torch by accident.
SUBCOMMANDS: tuple[str, ...] = (
    "check_config",
    "run",
    "demo",
    "train",
    "merge",
    "generate",
    "dataset",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand that exists in this build."""
    parser = argparse.ArgumentParser(
        prog="trainbot", description="Matrix chat bot with an embedded language-model trainer."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"bot.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainbot` console script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
