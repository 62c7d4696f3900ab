"""`trainbot demo`: a local homeserver, the bot and a demo room, in one command."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.cli import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="Try Trainbot: local homeserver, bot, demo dataset and a room.",
        description="Start a throwaway Synapse on 127.0.0.1, register the accounts "
        "`trainbot` and `demo`, start the bot, store the generated dataset `demo` and open "
        "a room; then type as the demo user (/quit or Ctrl-D stops everything). Any Matrix "
        "client can join with the printed login.",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(".demo"),
        help="Homeserver, bot data and logs live here; reused by the next run (default .demo).",
    )
    parser.add_argument(
        "--base",
        default="tiny",
        help="Base model for !train: tiny (default) or micro (a toy model, trains in seconds).",
    )
    parser.add_argument(
        "--script",
        action="store_true",
        help="Run a scripted conversation (!help … !train demo … !generate) and exit.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="Seconds each scripted step may take (default 300).",
    )
    parser.add_argument(
        "--no-http", action="store_true", help="Do not serve the HTTP API alongside the bot."
    )
    parser.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    """Run the demo until /quit, Ctrl-D or the end of the script."""
    from bot.dev.demo.main import run_demo
    from bot.dev.demo.session import DemoOptions

    options = DemoOptions(work_dir=args.work_dir.resolve(), base=args.base, http=not args.no_http)
    try:
        return asyncio.run(run_demo(options, script=args.script, timeout_s=args.timeout))
    except KeyboardInterrupt:
        return 130
