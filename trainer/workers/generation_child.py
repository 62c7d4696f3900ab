"""The generation child's work: a small LRU cache of models and one sampling call.

Worker-side module (imports torch and transformers): the forkserver imports it once, and
`trainer.workers.generation` runs it in a worker forked from there.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from trainer.data import keyword_prefix
from trainer.spec import GenerateParams, GenerationRequest, GenerationResult

Loaded = tuple[PreTrainedModel, PreTrainedTokenizerBase]


class ModelCache:
    """Keeps the `capacity` most recently used models; a retrained folder is reloaded."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._models: OrderedDict[tuple[str, float], Loaded] = OrderedDict()

    def get(self, model_dir: str) -> Loaded:
        """The model and tokenizer of `model_dir`, loading (and evicting) as needed."""
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
        model.eval()  # type: ignore[no-untyped-call]
        self._models[key] = (model, tokenizer)
        while len(self._models) > self._capacity:
            self._models.popitem(last=False)
        return model, tokenizer

    def __len__(self) -> int:
        return len(self._models)


class StopOnStrings(StoppingCriteria):
    """Ends generation once the new text contains any of the stop strings."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_len: int, stops: tuple[str, ...]):
        self._tokenizer = tokenizer
        self._prompt_len = prompt_len
        self._stops = stops

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object
    ) -> torch.BoolTensor:
        text = self._tokenizer.decode(input_ids[0, self._prompt_len :], skip_special_tokens=True)
        done = any(stop in text for stop in self._stops)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool)  # type: ignore[return-value]


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to the first stop string (excluded), and whether one was found."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


def generate_text(cache: ModelCache, request: GenerationRequest) -> GenerationResult:
    """Sample a completion for `request`.

    `max_tokens` is taken as checked by the service; it is only shortened to what the
    model's context window leaves room for.
    """
    model, tokenizer = cache.get(request.model_dir)
    params = request.params
    prompt = keyword_prefix(params.keywords) + request.prompt if params.keywords else request.prompt
    window = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
    # Learned position embeddings end at `window`: prompt and answer must fit in it.
    max_new = max(1, min(params.max_tokens, window - 1))
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    keep = max(1, window - max_new)
    ids = ids[:, -keep:]  # the newest context wins when the prompt is too long
    if ids.shape[1] == 0:  # an empty prompt starts after an end-of-text, as in training
        ids = torch.tensor([[tokenizer.eos_token_id]])
    if params.seed is not None:
        torch.manual_seed(params.seed)
    with torch.no_grad():
        output = model.generate(  # type: ignore[operator]
            ids,
            attention_mask=torch.ones_like(ids),
            repetition_penalty=params.repetition_penalty,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            **_sampling_options(params, tokenizer, ids.shape[1], max_new),
        )
    new_ids = output[0, ids.shape[1] :]
    decoded = str(tokenizer.decode(new_ids, skip_special_tokens=True))
    text, was_cut = cut_at_stop(decoded, params.stop)
    completion_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if was_cut else 0
    return GenerationResult(
        text=text,
        prompt_tokens=int(ids.shape[1]),
        completion_tokens=completion_tokens if was_cut else int(new_ids.shape[0]),
        latency_s=0.0,  # the parent measures what the caller waited
    )


def _sampling_options(
    params: GenerateParams, tokenizer: PreTrainedTokenizerBase, prompt_len: int, max_new: int
) -> dict[str, object]:
    options: dict[str, object] = {"max_new_tokens": max_new, "do_sample": params.temperature > 0}
    if params.temperature > 0:
        options.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
    if params.stop:
        options["stopping_criteria"] = StoppingCriteriaList(
            [StopOnStrings(tokenizer, prompt_len, params.stop)]
        )
    return options
