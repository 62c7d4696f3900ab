"""Base models: presets trained from scratch, local Hugging Face folders, hub ids.

Worker-side module (imports torch and transformers). A preset gets a byte-level BPE
tokenizer trained on the run's own training texts, so tiny models spend no capacity on
a 50k-token vocabulary they would never see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    set_seed,
)


@dataclass(frozen=True)
class PresetConfig:
    """GPT-2 architecture of a preset; the tokenizer is trained to `vocab_size` at most."""

    n_layer: int
    n_head: int
    n_embd: int
    n_positions: int
    vocab_size: int


# "micro" is not offered to users (spec.PRESETS); tests and benchmarks of mechanics use
# it because it trains in seconds on a laptop CPU.
PRESET_CONFIGS: dict[str, PresetConfig] = {
    "tiny": PresetConfig(n_layer=4, n_head=4, n_embd=256, n_positions=256, vocab_size=8000),
    "small": PresetConfig(n_layer=12, n_head=12, n_embd=768, n_positions=1024, vocab_size=8000),
    "micro": PresetConfig(n_layer=2, n_head=2, n_embd=64, n_positions=128, vocab_size=400),
}


class BaseModelError(Exception):
    """The base model cannot be loaded; the message is one readable line."""


@dataclass
class LoadedBase:
    """A model and tokenizer ready to train, and where they came from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str  # "preset", "local" or "hub"
    adapter_from: str | None = None  # the LoRA adapter folder the run continues or merged

    @property
    def max_positions(self) -> int:
        """The longest sequence the model accepts."""
        return context_length(self.model.config)

    @property
    def has_chat_template(self) -> bool:
        """Whether conversations are rendered with the tokenizer's own template."""
        return bool(getattr(self.tokenizer, "chat_template", None))


# Where configs of different families keep their context length, most specific first.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length", "max_seq_len")
DEFAULT_CONTEXT = 1024


def context_length(config: object) -> int:
    """The context length a model config declares (its text config for multimodal ones)."""
    text_config = getattr(config, "text_config", None) or config
    for key in CONTEXT_KEYS:
        value = getattr(text_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT


def separates_packed(model: PreTrainedModel) -> bool:
    """Whether restarting position ids keeps packed examples from attending to each other.

    Asked of the model itself, so any architecture is judged by what it does: the logits
    of a second example packed after a first must equal those of it alone.
    """
    import torch

    vocab = int(model.config.get_text_config().vocab_size)
    first, second = [1 % vocab, 2 % vocab, 3 % vocab], [4 % vocab, 5 % vocab, 6 % vocab]
    was_training = model.training
    model.eval()  # type: ignore[no-untyped-call]
    try:
        with torch.no_grad():
            packed = model(
                input_ids=torch.tensor([first + second], device=model.device),
                position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]], device=model.device),
            ).logits[0, 3:]
            alone = model(input_ids=torch.tensor([second], device=model.device)).logits[0]
        return bool(torch.allclose(packed.float(), alone.float(), atol=1e-4, rtol=1e-3))
    except (TypeError, ValueError, RuntimeError):  # a model without position_ids
        return False
    finally:
        model.train(was_training)


def load_base(base: str, train_texts: Sequence[str], seed: int) -> LoadedBase:
    """Build a preset from scratch or load a pretrained model folder / hub id."""
    if base in PRESET_CONFIGS:
        return build_preset(PRESET_CONFIGS[base], train_texts, seed)
    # The main process hands over folders as absolute paths it checked; anything else is
    # a hub id, never a path relative to this process's working directory.
    path = Path(base)
    if path.is_absolute() and path.is_dir():
        return _load_pretrained(str(path), "local")
    if path.is_absolute() or base.startswith((".", "~")):
        raise BaseModelError(f"base model folder {base!r} does not exist or is not a folder")
    return _load_pretrained(base, "hub")


def load_start(
    start: str, train_texts: Sequence[str], seed: int, continue_adapter: bool
) -> LoadedBase:
    """`load_base`, or for a LoRA adapter folder its base with the adapter on it.

    With `continue_adapter` the adapter stays a trainable peft adapter, so the run goes on
    training it (its own r, alpha and targets); else it is merged into the base's weights
    in memory and every weight trains (a full fine-tune of "base + adapter").
    """
    from trainer.adapters import MergeError, base_under

    try:
        under = base_under(start)
    except MergeError as exc:
        raise BaseModelError(str(exc)) from None
    if under is None:
        return load_base(start, train_texts, seed)
    from peft import PeftModel

    loaded = load_base(under, train_texts, seed)
    adapted = PeftModel.from_pretrained(loaded.model, start, is_trainable=continue_adapter)
    if continue_adapter:
        loaded.model = adapted  # type: ignore[assignment]  # it stands in for the model it wraps
    else:
        merged: PreTrainedModel = adapted.merge_and_unload()
        merged.requires_grad_(True)  # peft froze the base's weights under the adapter
        loaded.model = merged
    loaded.adapter_from = start
    return loaded


def build_preset(preset: PresetConfig, train_texts: Sequence[str], seed: int) -> LoadedBase:
    """A randomly initialised GPT-2 with a BPE tokenizer trained on `train_texts`."""
    from trainer.tokenizer import EOS_TOKEN, SPECIAL_TOKENS, train_bpe_tokenizer

    raw = train_bpe_tokenizer(list(train_texts), vocab_size=preset.vocab_size)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=raw, model_max_length=preset.n_positions, **SPECIAL_TOKENS
    )
    eos_id = int(tokenizer.convert_tokens_to_ids(EOS_TOKEN))  # type: ignore[arg-type]
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=preset.n_positions,
        n_embd=preset.n_embd,
        n_layer=preset.n_layer,
        n_head=preset.n_head,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    set_seed(seed)  # the initial weights are part of "same seed, same loss curve"
    model = GPT2LMHeadModel(config)
    _set_generation_defaults(model, eos_id)
    return LoadedBase(model=model, tokenizer=tokenizer, source="preset")


def _load_pretrained(name: str, source: str) -> LoadedBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name)
    except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors…
        raise BaseModelError(_describe_load_error(name, source, exc)) from exc
    if tokenizer.eos_token is None:
        raise BaseModelError(f"base model {name!r} has a tokenizer without an end-of-text token")
    if tokenizer.pad_token is None:
        # Packed blocks need a pad id only for the last, partly filled block.
        tokenizer.pad_token = tokenizer.eos_token
    _set_generation_defaults(model, int(tokenizer.eos_token_id))
    return LoadedBase(model=model, tokenizer=tokenizer, source=source)


def _set_generation_defaults(model: PreTrainedModel, eos_id: int) -> None:
    generation_config: GenerationConfig | None = model.generation_config
    if generation_config is None:
        return
    generation_config.eos_token_id = eos_id
    if generation_config.pad_token_id is None:
        generation_config.pad_token_id = eos_id


def _describe_load_error(name: str, source: str, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if source == "local":
        return f"cannot load base model folder {name!r}: {first_line}"
    presets = ", ".join(p for p in PRESET_CONFIGS if p != "micro")
    return (
        f"cannot load base model {name!r}: it is not a preset ({presets}) nor a local folder, "
        f"and the Hugging Face Hub did not provide it (offline or unknown id): {first_line}"
    )
