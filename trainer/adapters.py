"""Facts about a LoRA adapter folder: is it one, its settings, the base it loads onto.

Pure file reading (no torch, no workers), so the main process checks a job's base with it
and every worker module may import it without an import cycle (`trainer.merge`, which
starts workers, re-exports it).
"""

from __future__ import annotations

import json
from pathlib import Path

ADAPTER_CONFIG = "adapter_config.json"


class MergeError(ValueError):
    """An adapter folder that cannot be merged or loaded; one readable line."""


def adapter_base(adapter_dir: Path, base_dir: str | None = None) -> str:
    """The base folder (or hub id) an adapter loads onto: given, else the one it records."""
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise MergeError(f"{adapter_dir.name} is not a LoRA adapter (no adapter_config.json)")
    if base_dir:
        return base_dir
    config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise MergeError(f"{adapter_dir.name} does not name its base; give the base folder")
    if Path(base).is_absolute() and not Path(base).is_dir():
        raise MergeError(f"the base of {adapter_dir.name} is gone ({base}); give the base folder")
    return str(base)


def adapter_config(folder: Path) -> dict[str, object] | None:
    """The `adapter_config.json` of a LoRA adapter folder, None for any other folder."""
    path = folder / ADAPTER_CONFIG
    if not path.is_file():
        return None
    config: dict[str, object] = json.loads(path.read_text())
    return config


def base_under(start: str) -> str | None:
    """The base an adapter folder `start` loads onto (None when `start` is no adapter).

    A job may start from a registered adapter version: it then continues the adapter on
    that base, or merges it in memory first (`trainer.models.load_start`).
    """
    folder = Path(start)
    if not (folder.is_absolute() and (folder / ADAPTER_CONFIG).is_file()):
        return None
    return adapter_base(folder)
