"""`trainbot merge`: fold a LoRA adapter into its base and write a full model folder.

The adapter is a folder (its base is the one it names, or `--base`) or a registered
version (`name@v2`, an id) of the configured data dir. The output loads with plain
transformers; nothing is registered (`!merge` and POST /v1/models/{id}/merge do that).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.check_config import add_config_argument

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_REFUSED = 2


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "merge",
        help="Merge a LoRA adapter into its base (a full model folder).",
        description="Fold the LoRA adapter ADAPTER (a folder, or a registered version such "
        "as name@v2) into its base and write a full Hugging Face model folder to --out.",
    )
    parser.add_argument("adapter", metavar="ADAPTER", help="adapter folder or model version")
    parser.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    parser.add_argument("--base", metavar="DIR", help="base folder (default: the adapter's)")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find the adapter and its base, merge in this process, print where it went."""
    from trainer.merge import MergeError, MergeRequest, merge_adapter

    try:
        adapter_dir, base_dir = asyncio.run(_locate(args))
        base = merge_adapter(MergeRequest(adapter_dir, args.out, base_dir))
    except (MergeError, LookupError) as exc:
        print(f"trainbot merge: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"Merged {args.adapter} into {base}: full model saved to {args.out}")
    return 0


async def _locate(args: argparse.Namespace) -> tuple[str, str | None]:
    """(adapter folder, base folder or None) for a folder or a registered version."""
    if Path(args.adapter).is_dir():
        return str(Path(args.adapter).resolve()), args.base
    from bot.core.errors import TrainbotError
    from bot.core.models import ModelService
    from bot.settings import SettingsError, load_settings
    from storage.store import Store

    try:
        settings = load_settings(args.config, required=args.config is not None)
    except SettingsError as exc:
        raise LookupError(str(exc)) from None
    store = await Store.open(Path(settings.storage.data_dir))
    try:
        model = await ModelService(store).resolve(args.adapter)
    except TrainbotError as exc:
        raise LookupError(f"{args.adapter} is neither a folder nor a model: {exc}") from None
    finally:
        await store.close()
    if not model.is_adapter:
        raise LookupError(f"{model.label} is a full model already; only LoRA adapters merge")
    return model.path, args.base or model.base_path or None
