"""Merging a LoRA adapter into its base: a full model folder that plain transformers loads.

`merge_adapter` runs where torch may be imported (a worker, or the `trainbot merge`
command); `merge_in_worker` is the torch-free way for the bot's event loop to run it in
a worker process forked from the forkserver. The merged folder is written atomically
(`trainer.artifacts.save_atomically`) with the tokenizer of the adapter's run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from trainer.artifacts import TRAINBOT_JSON, save_atomically


class MergeError(ValueError):
    """The folder cannot be merged; one readable line."""


@dataclass(frozen=True)
class MergeRequest:
    """Merge `adapter_dir` into `base_dir` (None: the base the adapter names) at `out_dir`."""

    adapter_dir: str
    out_dir: str
    base_dir: str | None = None


def adapter_base(adapter_dir: Path, base_dir: str | None = None) -> str:
    """The base folder (or hub id) an adapter loads onto: given, else the one it records."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MergeError(f"{adapter_dir.name} is not a LoRA adapter (no adapter_config.json)")
    if base_dir:
        return base_dir
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise MergeError(f"{adapter_dir.name} does not name its base; give the base folder")
    if Path(base).is_absolute() and not Path(base).is_dir():
        raise MergeError(f"the base of {adapter_dir.name} is gone ({base}); give the base folder")
    return str(base)


def adapter_config(folder: Path) -> dict[str, object] | None:
    """The `adapter_config.json` of a LoRA adapter folder, None for any other folder."""
    path = folder / "adapter_config.json"
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
    if not (folder.is_absolute() and (folder / "adapter_config.json").is_file()):
        return None
    return adapter_base(folder)


def merge_adapter(request: MergeRequest) -> str:
    """Load base + adapter, fold the adapter into the weights, save; return the base used."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir = Path(request.adapter_dir)
    base = adapter_base(adapter_dir, request.base_dir)
    model = AutoModelForCausalLM.from_pretrained(base)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    record = _record(adapter_dir)
    record.update(kind="full", merged_from=str(adapter_dir), base_path=None)

    def write(folder: Path) -> None:
        merged.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    save_atomically(Path(request.out_dir), write, record)
    return base


async def merge_in_worker(request: MergeRequest, timeout_s: float = 3600) -> str:
    """`merge_adapter` in a worker process; a failure is a MergeError with one line."""
    from trainer.workers.server import ServingWorker, WorkerError

    worker = ServingWorker(
        _merge_worker_main, (), name="trainbot-merge", task="merge", timeout_s=timeout_s
    )
    try:
        result, _ = await worker.request(request)
    except WorkerError as exc:
        raise MergeError(str(exc)) from None
    finally:
        worker.close()
    return str(result)


def _merge_worker_main(conn: Connection) -> None:
    from trainer.workers.process import prepare_child
    from trainer.workers.server import serve

    prepare_child(0)

    def handle(request: object) -> str:
        assert isinstance(request, MergeRequest)
        return merge_adapter(request)

    serve(conn, handle)


def _record(adapter_dir: Path) -> dict[str, object]:
    path = adapter_dir / TRAINBOT_JSON
    if not path.is_file():
        return {}
    record: dict[str, object] = json.loads(path.read_text())
    return {k: v for k, v in record.items() if k not in ("versions", "created_at")}
