"""DPO on OpenAI's preference format with TRL's `DPOTrainer`, as trainbot events.

Worker-side module (imports torch, transformers, datasets and trl). The dataset is
checked like every other (`trainer.data`, format `preference`), split with the job's
seed, rendered with the base tokenizer's chat template when it has one (else the plain
template of `trainer.data.formats`), and trained with `beta`, on every weight or on a
LoRA adapter (`method.lora`; the reference model is then the base with the adapter off).
The reward margin and accuracy of each evaluation go into the events and the final one.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import PrinterCallback, TrainerCallback, TrainerControl, TrainerState
from transformers import TrainingArguments as Args

from trainer.artifacts import resume_checkpoint, save_atomically
from trainer.callbacks import Control, ControlCallback, EventSink, ProgressCallback
from trainer.data.formats import CHAT_STOP, chat_prompt
from trainer.data.preference import PreferencePair, read_pairs
from trainer.events import FinalEvent, Started
from trainer.precision import choose, parameter_count, training_switches
from trainer.spec import TrainSpec
from trainer.starting import lineage, say_start

if TYPE_CHECKING:
    from datasets import Dataset


class DpoMetrics(TrainerCallback):
    """Reports each evaluation's reward margin and accuracy; keeps the first and the last."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.initial: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def on_evaluate(
        self,
        args: Args,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if not metrics or "eval_rewards/margins" not in metrics:
            return
        found = {
            "reward_margin": float(metrics["eval_rewards/margins"]),
            "reward_accuracy": float(metrics.get("eval_rewards/accuracies", 0.0)),
        }
        if state.global_step == 0:
            self.initial = found
        self.last = found
        self._sink(
            {
                "event": "log",
                "level": "info",
                "message": f"step {state.global_step}: reward margin "
                f"{found['reward_margin']:.4f}, accuracy {found['reward_accuracy']:.0%}",
            }
        )


def run_dpo(spec: TrainSpec, sink: EventSink, control: Control) -> FinalEvent:
    """Train with DPO as `spec` says; return the final event (the caller sends it)."""
    from trl import DPOConfig, DPOTrainer  # type: ignore[attr-defined]

    from trainer.data import load_dataset
    from trainer.models import load_start

    began = time.perf_counter()
    hp = spec.hyperparameters
    report = load_dataset(spec.dataset_path, spec.data, block_size=hp.block_size)
    if report.format != "preference":
        raise ValueError(
            f"method=dpo needs a dataset in the preference format (input, preferred_output, "
            f"non_preferred_output); this one is {report.format}"
        )
    if spec.validation_path:  # a validation file of its own: every pair trains
        train_pairs, val_pairs = read_pairs(spec.dataset_path), read_pairs(spec.validation_path)
    else:
        pairs = read_pairs(spec.dataset_path)
        train_pairs, val_pairs = split_pairs(pairs, hp.val_fraction, hp.seed)
    base = load_start(spec.base, [], hp.seed, spec.method.adapter)
    if base.source == "preset":
        raise ValueError("method=dpo tunes a pretrained base; a preset starts from random weights")
    say_start(sink, base, spec)
    model = base.model
    if spec.method.lora is not None and base.adapter_from is None:  # else it continues one
        from trainer.lora import adapt

        model = adapt(spec, base, sink)
    # The job's own switches, not TRL's defaults (bf16 and activation checkpointing on
    # everywhere, which on a CPU is slower and not what the job says it runs in).
    switches = choose(spec.device, spec.precision, parameter_count(model), spec.compile)
    sink({"event": "log", "level": "info", "message": switches.describe()})
    chat = bool(getattr(base.tokenizer, "chat_template", None))
    if not chat:
        sink({"event": "log", "level": "info", "message": _PLAIN_TEMPLATE_NOTE})
    if control.requested() is not None:
        return {"event": "stopped", "reason": control.requested(), "step": 0, "checkpoint": None}
    tokens_per_step = 2 * hp.batch_size * hp.grad_accum * hp.block_size  # at most
    started = _started(spec, len(train_pairs), len(val_pairs), tokens_per_step)
    progress, stopper, rewards = (
        ProgressCallback(sink, tokens_per_step, started),
        ControlCallback(control),
        DpoMetrics(sink),
    )
    beta = spec.method.dpo.beta if spec.method.dpo else 0.1
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(
            **_config(spec), **training_switches(switches), beta=beta, max_length=hp.block_size
        ),
        train_dataset=_rows(train_pairs, chat),
        eval_dataset=_rows(val_pairs, chat),
        processing_class=base.tokenizer,
        callbacks=[progress, stopper, rewards],
    )
    trainer.remove_callback(PrinterCallback)
    result = trainer.train(resume_from_checkpoint=_resume(spec))
    step = trainer.state.global_step
    if stopper.reason is not None:
        checkpoint = Path(spec.checkpoint_dir) / f"checkpoint-{step}"
        saved = stopper.reason == "pause" and checkpoint.is_dir()
        return {
            "event": "stopped",
            "reason": stopper.reason,
            "step": step,
            "checkpoint": str(checkpoint) if saved else None,
        }
    metrics: dict[str, Any] = {
        "eval_loss": progress.last_eval_loss,
        "train_loss": float(result.training_loss),
        "reward_margin": rewards.last.get("reward_margin"),
        "reward_accuracy": rewards.last.get("reward_accuracy"),
        "initial_reward_margin": rewards.initial.get("reward_margin"),
        "beta": beta,
        "precision": switches.precision,
        "tokens_per_s": progress.tokens_per_s,
        "steps": step,
        "duration_s": time.perf_counter() - began,
        "pairs": len(train_pairs),
    }
    device = str(trainer.args.device.type)
    record = {
        "spec": spec.to_dict(),
        "dataset_sha256": report.sha256,
        "dataset_format": report.format,
        "metrics": metrics,
        "base": spec.base,
        "block_size": hp.block_size,
        "device": device,
        "method": spec.method.to_dict(),
        **lineage(spec),
    }

    def write(folder: Path) -> None:
        if spec.method.adapter:
            # TRL trains against a frozen copy of the adapter named "ref"; the version
            # is the trained one alone.
            model.save_pretrained(str(folder), selected_adapters=["default"])
            base.tokenizer.save_pretrained(str(folder))
        else:
            trainer.save_model(str(folder))
            (folder / "training_args.bin").unlink(missing_ok=True)

    save_atomically(Path(spec.output_dir), write, record)
    return {
        "event": "completed",
        "model_dir": spec.output_dir,
        "metrics": metrics,
        "base": spec.base,
        "device": device,
    }


def split_pairs(
    pairs: list[PreferencePair], val_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """A seeded shuffle, then at least one pair held out (the margins are measured there)."""
    if len(pairs) < 2:
        raise ValueError("DPO needs at least two preference pairs (one is held out)")
    shuffled = list(pairs)
    random.Random(seed).shuffle(shuffled)
    held = min(len(pairs) - 1, max(1, round(len(pairs) * val_fraction)))
    return shuffled[held:], shuffled[:held]


_PLAIN_TEMPLATE_NOTE = (
    "the base tokenizer has no chat template: conversations use the plain template "
    "(<|im_start|>role ... <|im_end|>)"
)


def _rows(pairs: list[PreferencePair], chat: bool) -> Dataset:
    from datasets import Dataset

    rows: list[dict[str, object]]
    if chat:
        rows = [
            {
                "prompt": list(p.messages),
                "chosen": [{"role": "assistant", "content": p.preferred}],
                "rejected": [{"role": "assistant", "content": p.rejected}],
            }
            for p in pairs
        ]
    else:
        rows = [
            {
                "prompt": chat_prompt(p.messages),
                "chosen": p.preferred + CHAT_STOP,
                "rejected": p.rejected + CHAT_STOP,
            }
            for p in pairs
        ]
    return Dataset.from_list(rows)


def _config(spec: TrainSpec) -> dict[str, Any]:
    """The schedule, evaluation and checkpoints of every other run (`trainer.train`)."""
    import torch

    hp = spec.hyperparameters
    return {
        "output_dir": spec.checkpoint_dir,
        "per_device_train_batch_size": hp.batch_size,
        "per_device_eval_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.grad_accum,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps,
        "learning_rate": hp.learning_rate,
        "warmup_steps": hp.warmup_steps if hp.warmup_steps > 0 else hp.warmup_ratio,
        "weight_decay": hp.weight_decay,
        "seed": hp.seed,
        "data_seed": hp.seed,
        "eval_strategy": "steps",
        "eval_steps": hp.eval_every,
        "eval_on_start": True,  # the margin before step 1 (zero: the policy is the reference)
        "save_strategy": "steps",
        "save_steps": hp.save_every,
        "save_total_limit": hp.save_total_limit,
        "logging_steps": 1,
        "report_to": spec.report_to,
        "disable_tqdm": True,
        "use_cpu": spec.device == "cpu" or not torch.cuda.is_available(),  # as `choose`
        "dataloader_num_workers": 0,
    }


def _resume(spec: TrainSpec) -> str | None:
    return resume_checkpoint(spec)


def _started(spec: TrainSpec, train: int, val: int, tokens_per_step: int) -> Started:
    hp = spec.hyperparameters
    steps = hp.max_steps if hp.max_steps > 0 else -(-train // hp.batch_size) * int(hp.epochs)
    return {
        "event": "started",
        "total_steps": steps,
        "resumed_from_step": 0,
        "total_tokens": steps * tokens_per_step,
        "train_examples": train,
        "val_examples": val,
        "train_blocks": train,
        "block_size": hp.block_size,
        "useful_token_fraction": 1.0,
        "base": spec.base,
    }
