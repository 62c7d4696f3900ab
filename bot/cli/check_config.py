"""`trainbot check-config`: validate settings and print the effective values, secrets masked."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.cli import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "check-config",
        help="Validate the configuration and print the effective settings.",
        description="Validate the configuration (TOML + TRAINBOT_* environment) and print "
        "the effective settings with secrets masked. Exits 1 when a value is invalid.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--example", action="store_true", help="Print the documented example config instead."
    )
    parser.set_defaults(func=run)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The `--config PATH` option shared by subcommands that read settings."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="TOML config file (default: ./config.toml if it exists).",
    )


def run(args: argparse.Namespace) -> int:
    """Validate and print."""
    from bot.settings import SettingsError, load_settings

    if args.example:
        from bot.settings.doc import render_example

        sys.stdout.write(render_example())
        return 0
    try:
        settings = load_settings(args.config, required=args.config is not None)
    except SettingsError as exc:
        print(f"trainbot: {exc}", file=sys.stderr)
        return 1
    effective: dict[str, Any] = settings.model_dump(mode="json")
    _redact_source_urls(effective)
    print(json.dumps(effective, indent=2, default=str))
    print("configuration OK", file=sys.stderr)
    return 0


def _redact_source_urls(effective: dict[str, Any]) -> None:
    """Source URLs without `user:password@`, query and fragment: any of them may hold a key."""
    sources = effective.get("sources", [])
    if not sources:
        return  # without sources, no need to import the fetcher (and aiohttp with it)
    from bot.core.sources.fetch import shown_url

    for source in sources:
        source["url"] = shown_url(source["url"])
