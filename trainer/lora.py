"""LoRA adapters with peft: which layers, checked against the loaded base, and QLoRA's needs.

Worker-side module (imports torch, transformers and peft). The targets are found the way
peft's own "all-linear" shorthand finds them (every `nn.Linear` or GPT-2 `Conv1D` but the
output head), by the last part of their name, so the default works for any architecture
and a name people type is checked against what the base really has.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel
from transformers.pytorch_utils import Conv1D

from trainer.callbacks import EventSink
from trainer.methods import LoraOptions
from trainer.models import LoadedBase
from trainer.spec import TrainSpec


class LoraSettingError(ValueError):
    """A LoRA setting the base or this machine cannot honour; one readable line."""


@dataclass(frozen=True)
class AdapterSummary:
    """What was adapted: the targets and how many weights train."""

    targets: tuple[str, ...]
    trainable: int
    total: int

    def describe(self, options: LoraOptions) -> str:
        """One line for the job's events."""
        share = 100 * self.trainable / max(self.total, 1)
        return (
            f"LoRA r={options.r} alpha={options.alpha:g} dropout={options.dropout:g} on "
            f"{', '.join(self.targets)}: {self.trainable:,} of {self.total:,} weights train "
            f"({share:.2f}%)"
        )


def linear_layer_names(model: PreTrainedModel) -> tuple[str, ...]:
    """The last name part of every linear layer LoRA can adapt (the output head excluded)."""
    head = model.get_output_embeddings()  # type: ignore[no-untyped-call]
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear | Conv1D) and module is not head and name
    }
    return tuple(sorted(names))


def check_targets(model: PreTrainedModel, options: LoraOptions) -> tuple[str, ...]:
    """The targets to adapt: all linear layers by default, else the named ones if they exist."""
    available = linear_layer_names(model)
    if not options.targets:
        if not available:
            raise LoraSettingError("the base has no linear layers LoRA could adapt")
        return available
    unknown = [t for t in options.targets if t not in available]
    if unknown:
        raise LoraSettingError(
            f"LoRA target {', '.join(unknown)} is not a linear layer of this base "
            f"(it has: {', '.join(available)})"
        )
    return tuple(options.targets)


def check_quantize(options: LoraOptions) -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU; say which one is missing."""
    if options.quantize is None:
        return
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package")
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU")
    if missing:
        raise LoraSettingError(
            f"QLoRA (quantize={options.quantize}) needs {' and '.join(missing)}, which this "
            "worker does not have; train a plain LoRA adapter instead (leave quantize out)"
        )


def apply_lora(model: PreTrainedModel, options: LoraOptions) -> tuple[PeftModel, AdapterSummary]:
    """Wrap `model` with a fresh LoRA adapter; only the adapter's weights train."""
    targets = check_targets(model, options)
    if options.quantize is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)  # type: ignore[no-untyped-call]
    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(targets),
        task_type="CAUSAL_LM",
        # GPT-2's Conv1D stores weights transposed; peft would guess this with a warning.
        fan_in_fan_out=_uses_conv1d(model, targets),
    )
    peft_model = get_peft_model(model, config)
    trainable, total = peft_model.get_nb_trainable_parameters()
    return peft_model, AdapterSummary(targets, int(trainable), int(total))


def load_quantized(path: str) -> PreTrainedModel:
    """A base loaded in 4 bits for QLoRA (CUDA and bitsandbytes are checked first)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        path, quantization_config=quantization, device_map={"": 0}
    )
    return model


def _uses_conv1d(model: PreTrainedModel, targets: tuple[str, ...]) -> bool:
    return any(
        isinstance(module, Conv1D) and name.rsplit(".", 1)[-1] in targets
        for name, module in model.named_modules()
    )


def adapt(spec: TrainSpec, base: LoadedBase, sink: EventSink) -> PreTrainedModel:
    """The base with a new LoRA adapter (loaded in 4 bits first for QLoRA)."""
    options = spec.method.lora
    assert options is not None  # the caller trains an adapter
    if base.source == "preset":
        raise LoraSettingError(
            "LoRA adapts a pretrained base; a preset starts from random weights "
            "(train it with method=full, or name a pretrained base)"
        )
    check_quantize(options)
    if options.quantize is not None:
        base.model = load_quantized(spec.base)
    model, summary = apply_lora(base.model, options)
    sink({"event": "log", "level": "info", "message": summary.describe(options)})
    return model  # type: ignore[return-value]  # a PeftModel stands in for the model it wraps
