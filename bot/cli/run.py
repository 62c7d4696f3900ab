"""`trainbot run`: start everything configured until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from bot.cli.check_config import add_config_argument

if TYPE_CHECKING:
    from bot.cli import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="Run the bot and the HTTP API.",
        description="Start everything configured: storage, training and generation workers, "
        "the HTTP API (http.enabled) and the Matrix bot (matrix.enabled; false runs a "
        "headless trainer service). SIGTERM or SIGINT pauses running jobs at a checkpoint "
        "and exits 0; they resume at the next start.",
    )
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load settings, configure logging, run the App until a signal."""
    from bot.settings import SettingsError, load_settings
    from trainer.workers.process import worker_context

    try:
        settings = load_settings(args.config, required=args.config is not None)
    except SettingsError as exc:
        print(f"trainbot: {exc}", file=sys.stderr)
        return 1
    # The workers' forkserver imports torch for seconds: started before the App's own
    # imports (~1 s), it imports alongside them, and the first job waits less.
    worker_context()
    from bot.app import App, setup_logging
    from bot.http.limits import raise_open_file_limit

    setup_logging(settings)
    # Room for http.max_connections: the usual soft default of 1024 open files is raised
    # toward the hard limit; the HTTP caps are lowered to fit whatever remains.
    raise_open_file_limit()
    asyncio.run(App(settings).run_until_signal())
    return 0
