"""One training run, top to bottom: read data, build the model, pack, train, save.

Runs inside a worker process (see `trainer.workers.training`); everything it has to say
goes through the `sink` as plain-dict events (`trainer.events`), ending with exactly one
of completed / stopped / failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainingArguments,
    default_data_collator,
)

from trainer.artifacts import resume_checkpoint, save_atomically
from trainer.callbacks import Control, ControlCallback, EventSink, ProgressCallback, perplexity
from trainer.events import FinalEvent, Started
from trainer.models import LoadedBase, load_start, separates_packed
from trainer.packing import PackedBlocks, pack, tokenize_examples
from trainer.precision import Switches, choose, parameter_count, training_switches
from trainer.spec import BASE_PRESETS, TrainSpec
from trainer.starting import lineage, say_start

if TYPE_CHECKING:
    from trainer.data import Example


class BlockDataset(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Packed blocks as tensors; every item has the same length, so no padding collator.

    With `separate`, items carry position ids that restart per example, which keeps the
    packed examples of a block from attending to each other (`trainer.packing`).
    """

    def __init__(self, blocks: PackedBlocks, separate: bool = False) -> None:
        self.input_ids = torch.tensor(blocks.input_ids, dtype=torch.long)
        self.labels = torch.tensor(blocks.labels, dtype=torch.long)
        self.position_ids = torch.tensor(blocks.position_ids) if separate else None

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"input_ids": self.input_ids[index], "labels": self.labels[index]}
        if self.position_ids is not None:
            item["position_ids"] = self.position_ids[index]
        return item


@dataclass
class Prepared:
    """Model, tokenizer and packed data of a run, before the Trainer is built."""

    base: LoadedBase
    train: PackedBlocks
    val: PackedBlocks
    train_examples: int
    val_examples: int
    dataset_sha256: str
    dataset_format: str
    resume_from: str | None
    separate: bool = False  # packed examples are kept apart by their position ids


def run_training(spec: TrainSpec, sink: EventSink, control: Control) -> FinalEvent:
    """Train as `spec` says; send events to `sink`; return (and send) the final event."""
    began = time.perf_counter()
    if spec.method.type == "dpo":
        from trainer.dpo import run_dpo

        return _final(sink, run_dpo(spec, sink, control))
    prepared = prepare(spec, sink)
    model = prepared.base.model
    if spec.method.adapter and prepared.base.adapter_from is None:  # else it continues one
        from trainer.lora import adapt

        model = adapt(spec, prepared.base, sink)
    if control.requested() is not None:
        return _final(
            sink, {"event": "stopped", "reason": control.requested(), "step": 0, "checkpoint": None}
        )
    hp = spec.hyperparameters
    switches = choose(spec.device, spec.precision, parameter_count(model), spec.compile)
    sink({"event": "log", "level": "info", "message": switches.describe()})
    block_size = len(prepared.train.input_ids[0])
    tokens_per_step = hp.batch_size * hp.grad_accum * block_size
    progress = ProgressCallback(sink, tokens_per_step, _started_fields(spec, prepared))
    stopper = ControlCallback(control)
    trainer = Trainer(
        model=model,
        args=training_arguments(spec, switches),
        train_dataset=BlockDataset(prepared.train, prepared.separate),
        eval_dataset=BlockDataset(prepared.val, prepared.separate),
        # Blocks are equal-length tensors; the tokenizer's padding collator would add an
        # all-ones attention mask, and with one the mask builder ignores position ids.
        data_collator=default_data_collator,
        processing_class=prepared.base.tokenizer,
        callbacks=[progress, stopper],
    )
    trainer.remove_callback(PrinterCallback)  # it prints to stdout; events replace it
    if hp.early_stopping_patience > 0:
        trainer.add_callback(EarlyStoppingCallback(hp.early_stopping_patience))
    result = trainer.train(resume_from_checkpoint=prepared.resume_from)
    step = trainer.state.global_step
    if stopper.reason is not None:
        checkpoint = Path(spec.checkpoint_dir) / f"checkpoint-{step}"
        saved = stopper.reason == "pause" and checkpoint.is_dir()
        return _final(
            sink,
            {
                "event": "stopped",
                "reason": stopper.reason,
                "step": step,
                "checkpoint": str(checkpoint) if saved else None,
            },
        )
    eval_loss = trainer.state.best_metric
    if eval_loss is None:
        eval_loss = progress.last_eval_loss
    metrics: dict[str, Any] = {
        "eval_loss": eval_loss,
        "perplexity": perplexity(eval_loss) if eval_loss is not None else None,
        "initial_perplexity": _initial_perplexity(trainer),
        # A pretrained base's step-0 evaluation is the base itself on the same split.
        "base_eval_loss": None if spec.base in BASE_PRESETS else _initial_eval_loss(trainer),
        "precision": switches.precision,
        "train_loss": float(result.training_loss),
        "tokens_per_s": progress.tokens_per_s,
        "steps": step,
        "tokens_seen": step * tokens_per_step,
        "duration_s": time.perf_counter() - began,
        "useful_token_fraction": prepared.train.useful_fraction,
        "early_stopped": step < trainer.state.max_steps,
    }
    device = _device_name(trainer)
    record = {
        "spec": spec.to_dict(),
        "dataset_sha256": prepared.dataset_sha256,
        "dataset_format": prepared.dataset_format,
        "metrics": metrics,
        "base": spec.base,
        "block_size": block_size,
        "device": device,
        "method": spec.method.to_dict(),
        **lineage(spec),
    }
    save_atomically(Path(spec.output_dir), lambda tmp: _save_model(trainer, tmp), record)
    return _final(
        sink,
        {
            "event": "completed",
            "model_dir": spec.output_dir,
            "metrics": metrics,
            "base": spec.base,
            "device": device,
        },
    )


def prepare(spec: TrainSpec, sink: EventSink) -> Prepared:
    """Read and split the dataset, load or build the model, tokenize and pack."""
    from trainer.data import load_dataset, split_examples

    hp = spec.hyperparameters
    report = load_dataset(spec.dataset_path, spec.data, block_size=hp.block_size)
    for warning in report.warnings:
        sink({"event": "log", "level": "warning", "message": warning})
    if spec.validation_path:  # a validation file of its own: the whole dataset trains
        held = load_dataset(spec.validation_path, spec.data, block_size=hp.block_size)
        train_examples, val_examples = list(report.examples), list(held.examples)
    else:
        # At least one validation example even at val_fraction 0: eval loss drives the
        # best-checkpoint choice and early stopping.
        val_fraction = max(hp.val_fraction, 1e-9)
        train_examples, val_examples = split_examples(report.examples, val_fraction, hp.seed)
    resume_from = resume_checkpoint(spec)
    # A LoRA checkpoint holds only the adapter: the base is loaded again and the Trainer
    # puts the adapter's weights back when it resumes.
    start_from = spec.base if spec.method.adapter else (resume_from or spec.base)
    base = load_start(start_from, [e.text for e in train_examples], hp.seed, spec.method.adapter)
    say_start(sink, base, spec)
    block_size = min(hp.block_size, base.max_positions)
    if block_size < hp.block_size:
        sink(
            {
                "event": "log",
                "level": "warning",
                "message": f"block_size lowered to {block_size}, the model's maximum",
            }
        )
    tokenizer = base.tokenizer
    _say_chat_template(sink, base, train_examples)
    # The cache is for generation; with it the mask builder ignores restarted positions.
    base.model.config.use_cache = False
    separate = separates_packed(base.model)
    if not separate:
        _say(
            sink,
            "warning",
            "packed examples can attend to earlier ones in their block: "
            "this model's attention does not separate them by position ids",
        )
    eos_id, pad_id = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
    train = pack(tokenize_examples(train_examples, tokenizer), block_size, eos_id, pad_id)
    val = pack(tokenize_examples(val_examples, tokenizer), block_size, eos_id, pad_id)
    if not len(train) or not len(val):
        raise ValueError("the dataset has no trained tokens after tokenization")
    return Prepared(
        base,
        train,
        val,
        len(train_examples),
        len(val_examples),
        report.sha256,
        report.format,
        resume_from,
        separate,
    )


def _say(sink: EventSink, level: str, message: str) -> None:
    sink({"event": "log", "level": level, "message": message})


def _say_chat_template(sink: EventSink, base: LoadedBase, examples: list[Example]) -> None:
    if not any(e.messages for e in examples):
        return
    if base.has_chat_template:
        _say(sink, "info", "conversations are rendered with the base's chat template")
    else:
        _say(sink, "info", "the base has no chat template: conversations use the plain one")


def training_arguments(spec: TrainSpec, switches: Switches) -> TrainingArguments:
    """TrainingArguments for the spec; checkpoints go to `spec.checkpoint_dir`."""
    hp = spec.hyperparameters
    # load_best_model_at_end needs every save step to be an eval step.
    save_steps = hp.eval_every * max(1, round(hp.save_every / hp.eval_every))
    return TrainingArguments(
        output_dir=spec.checkpoint_dir,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.grad_accum,
        num_train_epochs=hp.epochs,
        max_steps=hp.max_steps,
        learning_rate=hp.learning_rate,
        warmup_steps=hp.warmup_steps if hp.warmup_steps > 0 else hp.warmup_ratio,
        weight_decay=hp.weight_decay,
        seed=hp.seed,
        data_seed=hp.seed,
        eval_strategy="steps",
        eval_steps=hp.eval_every,
        eval_on_start=True,  # the initial perplexity, before step 1
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=hp.save_total_limit,
        load_best_model_at_end=True,  # with save_total_limit: never deletes the best
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_strategy="steps",
        logging_steps=1,
        report_to=spec.report_to,
        disable_tqdm=True,
        use_cpu=switches.device == "cpu",
        dataloader_num_workers=0,  # blocks are in-memory tensors; workers would only cost
        dataloader_pin_memory=switches.device == "cuda",
        **training_switches(switches),
    )


def _started_fields(spec: TrainSpec, prepared: Prepared) -> Started:
    hp = spec.hyperparameters
    block_size = len(prepared.train.input_ids[0])
    steps = hp.max_steps
    if steps <= 0:  # the Trainer's own count, known here already for total_tokens
        per_epoch = -(-len(prepared.train) // (hp.batch_size * hp.grad_accum))
        steps = int(per_epoch * hp.epochs + 0.999)
    return {
        "event": "started",
        "total_steps": steps,  # the Trainer's count replaces this when it starts
        "resumed_from_step": 0,
        "total_tokens": steps * hp.batch_size * hp.grad_accum * block_size,
        "train_examples": prepared.train_examples,
        "val_examples": prepared.val_examples,
        "train_blocks": len(prepared.train),
        "block_size": block_size,
        "useful_token_fraction": prepared.train.useful_fraction,
        "base": spec.base,
    }


def _initial_perplexity(trainer: Trainer) -> float | None:
    loss = _initial_eval_loss(trainer)
    return perplexity(loss) if loss is not None else None


def _initial_eval_loss(trainer: Trainer) -> float | None:
    # The log history comes back with a resumed checkpoint, so this also finds the step-0
    # evaluation of an earlier session.
    for entry in trainer.state.log_history:
        if entry.get("step") == 0 and "eval_loss" in entry:
            return float(entry["eval_loss"])
    return None


def _save_model(trainer: Trainer, folder: Path) -> None:
    config = getattr(trainer.model, "config", None)
    if config is not None:
        config.use_cache = True  # off for training only (see `prepare`)
    trainer.save_model(str(folder))
    # The pickled TrainingArguments are a Trainer habit, not part of a model folder, and
    # unpickling them is unsafe; the spec in trainbot.json says the same in JSON.
    (folder / "training_args.bin").unlink(missing_ok=True)


def _device_name(trainer: Trainer) -> str:
    return str(trainer.args.device.type)


def _final(sink: EventSink, event: FinalEvent) -> FinalEvent:
    sink(event)
    return event
