"""[trainer]: local training and generation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bot.settings.section import Section


class TrainerSettings(Section):
    """[trainer]: local training and generation."""

    max_concurrent_jobs: int = Field(1, ge=1, description="Training jobs run at once.")
    max_queue_length: int = Field(100, ge=1, description="Queued jobs accepted (429 above).")
    stop_grace_s: float = Field(
        30.0, gt=0, description="Seconds a job gets to checkpoint on cancel/pause/stop."
    )
    min_examples: int = Field(10, ge=1, description="Fewest valid examples a dataset needs.")
    default_base: str = Field(
        "tiny", description="Base model: a preset, a registered version, an allowed folder."
    )
    base_dirs: list[Path] = Field(
        default_factory=list,
        description="Folders whose model folders may be a base= (besides registered models).",
    )
    allow_hub: bool = Field(
        False, description="Let base= name a Hugging Face hub id (read from the local cache)."
    )
    default_backend: Literal["local", "openai", "ray"] = Field(
        "local", description="Backend of jobs that name none: local, openai, ray."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Training precision: auto (bf16 or fp16 on a GPU; on a CPU bf16 where "
        "it is native, else fp32), fp32, bf16, fp16 (GPU only).",
    )
    compile: bool = Field(
        False, description="torch.compile the model: pays off on long GPU runs only."
    )
    max_memory_gb: float = Field(
        0.0,
        ge=0,
        description="Memory a local job may use; a job estimated above it is refused at "
        "submit (0: this machine's memory).",
    )
    report_to: str = Field(
        "none", description="Experiment tracking: none, tensorboard, wandb, mlflow."
    )
    cached_models: int = Field(2, ge=1, description="Models the generation worker keeps loaded.")
    max_new_tokens: int = Field(256, ge=1, description="Cap on generated tokens per request.")
    generation_timeout_s: float = Field(60.0, gt=0, description="Seconds before generation fails.")

    @field_validator("precision")
    @classmethod
    def _fp16_needs_a_gpu(cls, precision: str, info: ValidationInfo) -> str:
        # Refused here, at load, rather than by every job failing at its start.
        if precision == "fp16" and info.data.get("device") == "cpu":
            raise ValueError('"fp16" needs a CUDA GPU; with trainer.device "cpu" use bf16 or fp32')
        return precision
