"""What `base=` may name for a local job: a preset, a registered model, an allowed folder.

A base is read by a worker with the service's rights, so the request decides nothing
about the file system: a folder counts only under `trainer.base_dirs` or as a registered
model's folder, a relative path is taken relative to those folders (never to the working
directory), and a hub id only when `trainer.allow_hub` is on. Every refusal is the same
sentence, so an answer tells nothing about which folders exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import Invalid, NotFound
from bot.core.models import ModelService
from trainer.spec import BASE_PRESETS, PRESETS

# `gpt2`, `openai-community/gpt2`: no leading `/`, `.` or `~`, so never a path.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")


@dataclass(frozen=True)
class BaseRules:
    """Where bases may come from: the registry's folder, `base_dirs`, and the hub."""

    models_dir: Path
    base_dirs: tuple[Path, ...] = ()
    allow_hub: bool = False

    def refusal(self, base: str) -> Invalid:
        """The one answer for every base that is not allowed (or does not exist)."""
        choices = [f"a preset ({', '.join(PRESETS)})", "a registered model (`!models`)"]
        if self.base_dirs:
            choices.append("a model folder under trainer.base_dirs")
        if self.allow_hub:
            choices.append("a Hugging Face hub id")
        listed = ", ".join(choices[:-1]) + " or " + choices[-1]
        return Invalid(f"base {base!r} is not available: use {listed}")


async def resolve_base(base: str, models: ModelService, rules: BaseRules) -> tuple[str, str]:
    """(what the job records, what the worker loads) for a local job's `base`."""
    if base in BASE_PRESETS:
        return base, base
    try:
        model = await models.resolve(base)
    except NotFound:
        model = None
    if model is None:
        folder = allowed_folder(base, (rules.models_dir, *rules.base_dirs))
        if folder is not None and folder.parent == rules.models_dir.resolve():
            # A registered model named by its folder is recorded as that model, so it
            # cannot be deleted while the job needs it; an unregistered one is no base.
            model = await models.store.models.get(folder.name)
            if model is None:
                raise rules.refusal(base)
        elif folder is not None:
            return base, str(folder)
        elif HUB_ID.fullmatch(base) and ".." not in base and hub_snapshot(base) is not None:
            # Already in the local hub cache: the worker reads the snapshot folder, so
            # no network is needed, nor asked for.
            return base, str(hub_snapshot(base))
        elif rules.allow_hub and HUB_ID.fullmatch(base) and ".." not in base:
            return base, base
        else:
            raise rules.refusal(base)
    if model.backend != "local" or not model.path:
        raise Invalid(f"{model.label} is a remote model and cannot be a local base")
    return model.id, model.path


def hub_snapshot(repo_id: str, cache_dir: Path | None = None) -> Path | None:
    """The local hub cache's folder of `repo_id` (the snapshot `main` names), or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    except ValueError:  # not a valid repo id after all
        return None
    return Path(found).parent if isinstance(found, str) else None


def allowed_folder(base: str, roots: tuple[Path, ...]) -> Path | None:
    """The folder `base` names inside one of `roots` (links resolved), or None."""
    if not base.strip() or "\x00" in base:
        return None
    raw = Path(base.strip()).expanduser()
    for root in roots:
        top = root.expanduser().resolve()
        try:
            candidate = (raw if raw.is_absolute() else top / raw).resolve()
            found = candidate != top and candidate.is_relative_to(top) and candidate.is_dir()
        except (OSError, ValueError):  # a name too long, a loop of links
            continue
        if found:
            return candidate
    return None


# What training costs in memory, per parameter of the base, in bytes: fp32 weights (4),
# their gradients (4) and AdamW's two moments (8) when every weight trains; only the
# frozen weights for LoRA (its adapter is ~1% of the base, counted with the activations'
# slack); a packed 4-bit base for QLoRA.
BYTES_PER_PARAMETER = {"full": 16.0, "lora": 4.0, "qlora": 0.55}
# Activations kept for the backward pass, per token, layer and unit of width, in bytes
# (Korthikanti et al. 2022 count 34 in 16-bit without recomputation; fp32 doubles it).
ACTIVATION_BYTES = 68
GIB = 1024**3


@dataclass(frozen=True)
class BaseShape:
    """What the cost of training a base depends on, read from its folder."""

    parameters: int
    layers: int
    width: int
    vocab: int


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training job needs at its peak, and what they are for."""

    weights_and_optimizer: int
    activations: int

    @property
    def total(self) -> int:
        """Everything the job holds at once."""
        return self.weights_and_optimizer + self.activations


def base_shape(folder: Path) -> BaseShape | None:
    """Parameters, depth, width and vocabulary of a model folder (None if unreadable).

    The parameter count comes from the safetensors headers (exact, without loading a
    weight); depth and width from `config.json` under any family's key names.
    """
    import json

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    config = config.get("text_config") or config
    parameters = sum(_safetensors_parameters(f) for f in folder.glob("*.safetensors"))
    layers = _first_int(config, ("num_hidden_layers", "n_layer", "num_layers"))
    width = _first_int(config, ("hidden_size", "n_embd", "d_model"))
    vocab = _first_int(config, ("vocab_size",))
    if not parameters:  # an old pytorch_model.bin: fp32 weights, 4 bytes each
        parameters = sum(f.stat().st_size for f in folder.glob("*.bin")) // 4
    if not (parameters and layers and width):
        return None
    return BaseShape(parameters, layers, width, vocab)


def estimate_memory(
    shape: BaseShape, method: str, batch_size: int, block_size: int, quantized: bool = False
) -> MemoryEstimate:
    """Peak bytes of training `shape` with `method` ("full", "lora", "dpo") on batches of
    `batch_size` x `block_size` tokens (DPO feeds a chosen and a rejected answer, and
    keeps a frozen reference copy when every weight trains)."""
    kind = "qlora" if quantized else ("full" if method in ("full", "dpo") else "lora")
    weights = shape.parameters * BYTES_PER_PARAMETER[kind]
    tokens = batch_size * block_size
    if method == "dpo":
        tokens *= 2
        weights += shape.parameters * 4 if kind == "full" else 0
    # The logits and their gradient are fp32 and vocabulary-wide: for small models with
    # big vocabularies they are most of the activations.
    activations = tokens * (shape.layers * shape.width * ACTIVATION_BYTES + shape.vocab * 8)
    return MemoryEstimate(int(weights), int(activations))


def memory_refusal(estimate: MemoryEstimate, limit_bytes: int, method: str) -> Invalid | None:
    """The refusal of a job that cannot fit in `limit_bytes`, or None when it fits."""
    if estimate.total <= limit_bytes:
        return None
    advice = "lower batch_size or block_size"
    if method == "full":
        advice += ", or train a LoRA adapter (method=lora), which keeps the base frozen"
    return Invalid(
        f"this job would need about {_size(estimate.total)} of memory to train "
        f"(weights and optimizer {_size(estimate.weights_and_optimizer)}, "
        f"activations {_size(estimate.activations)}) but {_size(limit_bytes)} "
        f"are available: {advice}"
    )


# Training FLOPs per token and parameter: forward 2, backward 4 (2 for the activations'
# gradients, 2 for the weights'); a frozen base skips the weights' gradients.
FLOPS_PER_PARAMETER = {"full": 6, "dpo": 6, "lora": 4}


def scaled_tokens_per_s(
    reference_tokens_per_s: float, reference_parameters: int, shape: BaseShape, method: str
) -> float:
    """Tokens/s to expect for `shape` trained with `method`, from a speed measured on a
    full-weights run of `reference_parameters` (a preset): compute scales with the
    parameters and the backward pass's share of them. DPO's two answers halve it again."""
    flops = FLOPS_PER_PARAMETER.get(method, 6) * shape.parameters * (2 if method == "dpo" else 1)
    return reference_tokens_per_s * 6 * reference_parameters / flops


# The preset whose measured speed is scaled to a folder base's size: GPT-2 "tiny" (4
# layers, width 256, 256 positions, vocabulary 8000; trainer.models.PRESET_CONFIGS).
REFERENCE_PRESET = "tiny"
REFERENCE_PARAMETERS = 8000 * 256 + 256 * 256 + 4 * (12 * 256 * 256 + 13 * 256) + 2 * 256


def folder_tokens_per_s(base_path: str, method: str, preset_tokens_per_s: float) -> float | None:
    """Expected tokens/s of a folder base, scaled from the reference preset's speed here
    (None for a preset or an unreadable folder: their own figures apply)."""
    folder = Path(base_path)
    shape = base_shape(folder) if folder.is_dir() else None
    if shape is None:
        return None
    return scaled_tokens_per_s(preset_tokens_per_s, REFERENCE_PARAMETERS, shape, method)


def _size(count: int) -> str:
    return f"{count / GIB:.1f} GiB" if count >= GIB else f"{count / 1024**2:.0f} MiB"


def check_fits(
    base_path: str, method: str, quantized: bool, batch_size: int, block_size: int, limit_gb: float
) -> None:
    """Refuse, before anything is queued, a job on a base folder that cannot fit in
    `limit_gb` (0: this machine's memory); presets and unreadable folders pass."""
    folder = Path(base_path)
    shape = base_shape(folder) if folder.is_dir() else None
    if shape is None:
        return
    limit = int(limit_gb * GIB) if limit_gb > 0 else machine_memory_bytes()
    estimate = estimate_memory(shape, method, batch_size, block_size, quantized)
    refusal = memory_refusal(estimate, limit, method)
    if refusal is not None:
        raise refusal


def machine_memory_bytes() -> int:
    """This machine's physical memory (the limit when no other is configured)."""
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _first_int(config: dict[str, object], keys: tuple[str, ...]) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def _safetensors_parameters(path: Path) -> int:
    """Elements in a safetensors file, from its JSON header (8-byte length, then JSON)."""
    import json
    import math

    try:
        with path.open("rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if length > 100_000_000:  # not a safetensors header
                return 0
            header = json.loads(f.read(length))
    except (OSError, ValueError):
        return 0
    return sum(
        math.prod(entry["shape"])
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict)
    )
