"""The generation child's models and prompts: an LRU of loaded bases with their adapters.

Worker-side module (imports torch and transformers): the forkserver imports it once, and
`trainer.workers.generation` runs it in a worker forked from there. The batching engine
that steps sequences is `trainer.workers.generation_engine`.

Adapters are switched on one loaded base (hot-swap): the first adapter of a base wraps it
with `peft.PeftModel.from_pretrained`, later ones are added with `load_adapter`, and the
engine calls `set_adapter` (or `disable_adapter` for the bare base) before each step of a
group. A merged copy per version would cost a whole model's memory each.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers import PreTrainedTokenizerBase as Tokenizer

from trainer.data import keyword_prefix
from trainer.data.formats import CHAT_STOP, chat_prompt
from trainer.spec import ChatMessage, GenerationRequest

MAX_ADAPTERS_PER_BASE = 8  # adapters kept switched-in on one base; the oldest goes first
ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class LoadedBase:
    """One base model, its tokenizer, and the adapters loaded on it (name by folder key)."""

    key: str
    model: PreTrainedModel
    tokenizer: Tokenizer
    peft: torch.nn.Module | None = None  # the PeftModel wrapper once an adapter is loaded
    adapters: OrderedDict[tuple[str, float], str] = field(default_factory=OrderedDict)
    names: int = 0

    @functools.cached_property
    def keeps_logits(self) -> bool:
        """Whether the model's forward takes `logits_to_keep` (most of transformers' do)."""
        import inspect

        return "logits_to_keep" in inspect.signature(self.model.forward).parameters

    @property
    def window(self) -> int:
        """Tokens of context: prompt and answer together fit in it."""
        from trainer.models import context_length  # any family's key, not GPT-2's alone

        return context_length(self.model.config)

    def adapter(self, adapter_dir: str) -> str:
        """The name of `adapter_dir`'s adapter on this base, loading it on first use."""
        from peft import PeftModel

        folder = Path(adapter_dir)
        key = (str(folder.resolve()), (folder / ADAPTER_CONFIG).stat().st_mtime)
        if key in self.adapters:
            self.adapters.move_to_end(key)
            return self.adapters[key]
        self.names += 1
        name = f"adapter{self.names}"
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.model, adapter_dir, adapter_name=name)
        else:
            self.peft.load_adapter(adapter_dir, adapter_name=name)  # type: ignore[operator]
        self.peft.eval()
        self.adapters[key] = name
        while len(self.adapters) > MAX_ADAPTERS_PER_BASE:
            _, old = self.adapters.popitem(last=False)
            self.peft.delete_adapter(old)  # type: ignore[operator]
        return name


class ModelCache:
    """Keeps the `capacity` most recently used bases; a retrained folder is reloaded."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._models: OrderedDict[tuple[str, float], LoadedBase] = OrderedDict()

    def base(self, model_dir: str) -> LoadedBase:
        """The loaded base of `model_dir`, loading (and evicting) as needed."""
        folder = Path(model_dir)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"no model in {model_dir!r} (config.json missing)")
        # The folder is replaced atomically by a new training run, so its config's mtime
        # tells a new model from the cached one.
        key = (str(folder.resolve()), (folder / "config.json").stat().st_mtime)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        for old in [k for k in self._models if k[0] == key[0]]:
            del self._models[old]
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        if torch.cuda.is_available():
            model.to(torch.device("cuda"))  # type: ignore[arg-type]
        model.eval()  # type: ignore[no-untyped-call]
        loaded = LoadedBase(f"{key[0]}@{key[1]}", model, tokenizer)
        self._models[key] = loaded
        while len(self._models) > self._capacity:
            self._models.popitem(last=False)
        return loaded

    def get(self, model_dir: str) -> tuple[PreTrainedModel, Tokenizer]:
        """The model and tokenizer of `model_dir`."""
        loaded = self.base(model_dir)
        return loaded.model, loaded.tokenizer

    def __len__(self) -> int:
        return len(self._models)


def base_and_adapter(request: GenerationRequest) -> tuple[str, str | None]:
    """The base folder to load and the adapter folder to switch on it, if any.

    A registered adapter folder (peft's `adapter_config.json`, no `config.json`) names
    its base in `base_model_name_or_path`; a relative base is read next to the adapter.
    """
    if request.adapter_dir is not None:
        return request.model_dir, request.adapter_dir
    folder = Path(request.model_dir)
    if (folder / "config.json").is_file() or not (folder / ADAPTER_CONFIG).is_file():
        return request.model_dir, None
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base = Path(str(config.get("base_model_name_or_path") or ""))
    if not str(base) or str(base) == ".":
        raise FileNotFoundError(f"the adapter in {request.model_dir!r} names no base model")
    return str(base if base.is_absolute() else (folder / base)), request.model_dir


@dataclass(frozen=True)
class Prompt:
    """The prompt's token ids, the stop strings it implies, and the turns left out."""

    ids: list[int]
    stops: tuple[str, ...]
    max_new: int
    dropped: int


def build_prompt(loaded: LoadedBase, request: GenerationRequest) -> Prompt:
    """Tokenize the request's prompt to fit the window with room for the answer.

    A conversation loses its oldest turns first (the system message stays); a plain
    prompt keeps its newest tokens.
    """
    tokenizer, params = loaded.tokenizer, request.params
    # Learned position embeddings end at the window: prompt and answer must fit in it.
    # The prompt may keep up to half of it whatever max_tokens asks (a chat's history
    # matters more than room for an answer that rarely needs it); the answer gets the rest.
    max_new = max(1, min(params.max_tokens, loaded.window - 1))
    room = max(1, loaded.window - max_new, loaded.window // 2)
    stops, dropped = params.stop, 0
    if request.messages is not None:
        messages = list(request.messages)
        ids, plain = _chat_ids(tokenizer, messages)
        while len(ids) > room and _drop_oldest_turn(messages):
            dropped += 1
            ids, plain = _chat_ids(tokenizer, messages)
        if plain:
            stops = (*stops, CHAT_STOP)
    else:
        prefix = keyword_prefix(params.keywords) if params.keywords else ""
        ids = _encode(tokenizer, prefix + request.prompt)
    ids = ids[-room:]  # the newest context wins when the prompt is still too long
    if not ids:  # an empty prompt starts after an end-of-text, as in training
        ids = [_eos_ids(loaded)[0]]
    return Prompt(ids, stops, max(1, min(max_new, loaded.window - len(ids))), dropped)


def eos_ids(loaded: LoadedBase) -> frozenset[int]:
    """Token ids that end an answer (the tokenizer's and the generation config's)."""
    return frozenset(_eos_ids(loaded))


def _eos_ids(loaded: LoadedBase) -> list[int]:
    found: list[int] = []
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    for value in (loaded.tokenizer.eos_token_id, configured):
        if isinstance(value, int):
            found.append(value)
        elif isinstance(value, Sequence):
            found.extend(int(v) for v in value)
    return found or [0]


def _chat_ids(tokenizer: Tokenizer, messages: Sequence[ChatMessage]) -> tuple[list[int], bool]:
    """The conversation's ids and whether the plain template was used."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        # The template writes its own begin-of-text: the tokenizer must not add another.
        return _encode(tokenizer, str(text)), False
    return _encode(tokenizer, chat_prompt(messages)), True


def _drop_oldest_turn(messages: list[ChatMessage]) -> bool:
    """Remove the oldest non-system message unless only the newest is left."""
    turns = [i for i, message in enumerate(messages) if message.get("role") != "system"]
    if len(turns) <= 1:
        return False
    del messages[turns[0]]
    return True


def _encode(tokenizer: Tokenizer, text: str) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Tokens of `text` with the model's tokenizer (usage of an answer cut at a stop)."""
    return len(_encode(tokenizer, text))


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the first stop string (excluded), and whether one was found."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    if not positions:
        return text, False
    return text[: min(positions)], True
