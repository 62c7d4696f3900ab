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

from trainer.adapters import MergeError, adapter_base, adapter_config, base_under
from trainer.artifacts import TRAINBOT_JSON, save_atomically

# The adapter-folder facts live in `trainer.adapters` (no torch, no workers); they are
# re-exported here, where callers of the merge look for them.
__all__ = [
    "MergeError",
    "MergeRequest",
    "adapter_base",
    "adapter_config",
    "base_under",
    "merge_adapter",
    "merge_in_worker",
]


@dataclass(frozen=True)
class MergeRequest:
    """Merge `adapter_dir` into `base_dir` (None: the base the adapter names) at `out_dir`."""

    adapter_dir: str
    out_dir: str
    base_dir: str | None = None


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
