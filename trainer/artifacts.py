"""Writing a finished model folder atomically, with its `trainbot.json` record.

The folder is built next to `output_dir` under a hidden temporary name and renamed into
place only when complete, so a cancelled or killed run never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.spec import TrainSpec

TRAINBOT_JSON = "trainbot.json"
_PARTIAL = ".partial-"


def partial_dirs(output_dir: Path) -> list[Path]:
    """Leftover temporary folders of earlier, interrupted saves of `output_dir`."""
    return sorted(output_dir.parent.glob(f".{output_dir.name}{_PARTIAL}*"))


def relative_record(model_dir: Path, root: Path) -> None:
    """Rewrite `model_dir/trainbot.json` with paths relative to `root` (the data dir).

    The record travels with the folder (archives, copies to other machines); the server's
    own file layout is nobody else's business and means nothing elsewhere.
    """
    path = model_dir / TRAINBOT_JSON
    if not path.is_file():
        return
    record = json.loads(path.read_text(encoding="utf-8"))
    tmp = path.with_name(f".{TRAINBOT_JSON}{_PARTIAL}{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(relative_paths(record, root), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def relative_paths(value: object, root: Path) -> object:
    """`value` (JSON) with every string naming a path under `root` made relative to it."""
    if isinstance(value, dict):
        return {key: relative_paths(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [relative_paths(item, root) for item in value]
    if isinstance(value, str):
        return relative_text(value, root)
    return value


def relative_text(text: str, root: Path) -> str:
    """`text` with every mention of a path under `root` written relative to it."""
    # Both spellings: the data dir as configured and as the file system resolves it.
    spellings = {str(root.resolve())} | ({str(root)} if root.is_absolute() else set())
    for prefix in sorted((p.rstrip("/") for p in spellings), key=len, reverse=True):
        text = text.replace(prefix + "/", "")
        if text == prefix:
            return "."
    return text


def library_versions() -> dict[str, str]:
    """Versions that decide whether a saved model loads and behaves the same elsewhere."""
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def save_atomically(
    output_dir: Path, write: Callable[[Path], None], record: dict[str, Any]
) -> None:
    """Let `write(tmp)` fill a temporary folder, add trainbot.json, then swap it in."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in partial_dirs(output_dir):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = output_dir.with_name(f".{output_dir.name}{_PARTIAL}{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        record = {**record, "versions": library_versions(), "created_at": time.time()}
        (tmp / TRAINBOT_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        _swap_into_place(tmp, output_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_into_place(tmp: Path, output_dir: Path) -> None:
    # A directory cannot be renamed over a non-empty one, so an older model moves aside
    # first; between the two renames the old model is still whole under its aside name.
    aside = None
    if output_dir.exists():
        aside = output_dir.with_name(f".{output_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(output_dir, aside)
    os.rename(tmp, output_dir)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def resume_checkpoint(spec: TrainSpec) -> str | None:
    """The newest checkpoint to resume from when the spec asks to resume, else None."""
    from transformers.trainer_utils import get_last_checkpoint

    if not spec.resume:
        return None
    folder = Path(spec.checkpoint_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None  # type: ignore[no-untyped-call]
    if last is None:
        raise FileNotFoundError(f"nothing to resume: no checkpoint in {spec.checkpoint_dir}")
    return str(last)
