"""Device and precision switches of a training run: what the hardware does fast.

Worker-side (imports torch). `choose` turns the spec's wishes ("auto" by default) into
concrete switches; `training_switches` maps them onto `TrainingArguments` keywords; the
run reports the choice in its `log` events so a job says what it ran on.

- CUDA: bf16 autocast where the GPU supports it, else fp16 with a loss scaler; TF32
  matmuls; fused AdamW; gradient checkpointing for bases of a billion parameters or more;
  `torch.compile` only when asked (its warm-up costs more than short jobs gain).
- CPU: fp32 by default; bf16 autocast on request (`precision="bf16"`), and by default
  where the CPU has native bf16 (AVX-512 BF16 or AMX) once `CPU_BF16_BY_DEFAULT` is on.
  It stays off until `bench/precision.py` (Trainbot forced to bf16 ÷ a bare fp32 loop,
  5 rounds) shows >= 1.4x at equal eval loss. On 2026-12-02 at load ~1.7 it showed 1.414x
  (1.321-1.476; Trainbot bf16 ÷ fp32 1.487x) with the eval loss gap 0.00 % after 20 steps:
  the bar is met, barely. Not switched yet: the two eval losses were equal to four
  decimals in every round, which needs checking (does the Trainer's eval run under the
  same autocast?), and switching changes the numbers of every CPU training test here.
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
CPU_BF16_BY_DEFAULT = False  # turn on where bench/precision.py shows >= 1.4x at equal loss


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
