"""Eval loss of a trained model folder on a dataset, computed as training computes it.

Worker-side module (imports torch and transformers): the schedule service runs
`eval_loss` in a worker forked from the forkserver (`trainer.workers.eval`), so the bot's
event loop never waits on it. Examples are tokenized and packed exactly like training
data (`trainer.packing`), with the block size the model was trained with, so the number
compares with the `eval_loss` of its metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.artifacts import TRAINBOT_JSON

if TYPE_CHECKING:
    from trainer.data import Example

BATCH_SIZE = 8


@dataclass(frozen=True)
class EvalResult:
    """Mean loss over the trained tokens of `examples` examples packed in `blocks` blocks."""

    loss: float
    examples: int
    blocks: int
    new_only: bool  # measured on examples the model was not trained on


def eval_loss(
    model_dir: str,
    dataset_path: str,
    dataset_format: str | None,
    trained_path: str | None,
    max_examples: int,
) -> EvalResult:
    """Loss on the newest examples of a dataset (those not in `trained_path` when any)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from trainer.packing import pack, tokenize_examples

    examples, new_only = _pick_examples(dataset_path, dataset_format, trained_path, max_examples)
    if not examples:
        raise ValueError("the dataset has no valid examples to measure on")
    # The worker's stderr is the bot's: no progress bars or padding advice there.
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()  # type: ignore[no-untyped-call]
    eos_id = int(tokenizer.eos_token_id)
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id)
    blocks = pack(tokenize_examples(examples, tokenizer), _block_size(model_dir), eos_id, pad_id)
    if not len(blocks):
        raise ValueError("the examples have no trained tokens after tokenization")
    total, count = 0.0, 0
    with torch.no_grad():
        # Like the Trainer's evaluation: the mean of the batches' losses, by batch size.
        for start in range(0, len(blocks), BATCH_SIZE):
            ids = torch.tensor(blocks.input_ids[start : start + BATCH_SIZE], dtype=torch.long)
            labels = torch.tensor(blocks.labels[start : start + BATCH_SIZE], dtype=torch.long)
            positions = torch.tensor(blocks.position_ids[start : start + BATCH_SIZE])
            # Restarted positions keep packed examples apart, as in training.
            loss = model(input_ids=ids, labels=labels, position_ids=positions, use_cache=False).loss
            total += float(loss) * len(ids)
            count += len(ids)
    return EvalResult(total / count, len(examples), len(blocks), new_only)


def _pick_examples(
    path: str, data_format: str | None, trained_path: str | None, limit: int
) -> tuple[list[Example], bool]:
    from trainer.data import read_dataset
    from trainer.spec import DataOptions

    examples = read_dataset(path, DataOptions(format=data_format, skip_invalid=True)).examples
    if trained_path and Path(trained_path).is_file():
        seen = {e.text for e in read_dataset(trained_path, DataOptions(skip_invalid=True)).examples}
        new = [e for e in examples if e.text not in seen]
        if new:
            return list(new[-limit:]), True
    # Nothing new (or the old version is gone): the newest examples of the whole version.
    return list(examples[-limit:]), False


def _block_size(model_dir: str) -> int:
    record_path = Path(model_dir) / TRAINBOT_JSON
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if isinstance(record.get("block_size"), int):
            return int(record["block_size"])
    from trainer.models import CONTEXT_KEYS

    config = json.loads((Path(model_dir) / "config.json").read_text())
    config = config.get("text_config") or config
    declared = [config[key] for key in CONTEXT_KEYS if isinstance(config.get(key), int)]
    return int(min([128, *declared]))
