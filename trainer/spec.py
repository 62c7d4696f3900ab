"""Pure data shared by the main process and the training workers.

Nothing here imports torch or transformers: the main process builds a `TrainSpec`,
pickles it into a worker forked from the forkserver, and reads back the plain-dict events
of `trainer.events`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from trainer.methods import Method

T = TypeVar("T")

DatasetFormat = Literal["text", "completion", "chat", "keywords", "csv", "preference"]
DATASET_FORMATS: tuple[str, ...] = ("text", "completion", "chat", "keywords", "csv", "preference")

PRESETS: tuple[str, ...] = ("tiny", "small")
# Every preset a worker builds: "micro" is not offered to people (it learns nothing
# useful) but trains in seconds, so tests and benchmarks of mechanics use it.
BASE_PRESETS: tuple[str, ...] = (*PRESETS, "micro")


@dataclass(frozen=True)
class Hyperparameters:
    """Knobs of one training run; defaults suit the tiny preset on a CPU."""

    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 5e-4
    batch_size: int = 8
    grad_accum: int = 1
    block_size: int = 128
    warmup_steps: int = 0
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    seed: int = 42
    val_fraction: float = 0.1
    eval_every: int = 50
    save_every: int = 50
    save_total_limit: int = 2
    early_stopping_patience: int = 0  # 0 disables early stopping

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names accepted as hyperparameter keys (used by the CLI, chat and HTTP)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> Hyperparameters:
        """A copy with some values changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DataOptions:
    """How to read a dataset file."""

    format: str | None = None  # None: detect from extension and content
    skip_invalid: bool = False
    min_examples: int = 10
    text_column: str = "text"
    prompt_column: str = "prompt"
    completion_column: str = "completion"


@dataclass(frozen=True)
class TrainSpec:
    """Everything a worker needs to run one training job; frozen and picklable."""

    dataset_path: str
    output_dir: str  # the finished Hugging Face model folder is written here
    checkpoint_dir: str  # Trainer checkpoints (checkpoint-<step>/) live here
    base: str = "tiny"  # a preset name, a local model folder, or a hub id
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    data: DataOptions = field(default_factory=DataOptions)
    resume: bool = False  # continue from the newest checkpoint in checkpoint_dir
    report_to: str = "none"
    job_id: str = ""
    dataset_hash: str = ""
    device: str = "auto"  # "auto", "cpu", "cuda"
    precision: str = "auto"  # "auto", "fp32", "bf16", "fp16" (trainer.precision)
    compile: bool = False  # torch.compile the model: pays off on long GPU runs only
    method: Method = field(default_factory=Method)  # full weights, LoRA or DPO
    validation_path: str = ""  # an explicit validation dataset; "": a held-out share

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (stored with the job and in trainbot.json)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainSpec:
        """Rebuild a spec stored with `to_dict`."""
        values = dict(raw)
        # A spec stored before a knob was removed (keyword_loss_weight) still loads.
        known = Hyperparameters.field_names()
        stored = values.get("hyperparameters", {})
        values["hyperparameters"] = Hyperparameters(
            **{k: v for k, v in stored.items() if k in known}
        )
        values["data"] = DataOptions(**values.get("data", {}))
        values["method"] = Method.from_dict(values.get("method"))
        return cls(**values)


@dataclass(frozen=True)
class Limit:
    """The accepted range of a generation parameter and what it does (for docs and forms)."""

    low: float | None
    high: float | None
    help: str
    low_open: bool = False  # `low` itself is refused (top_p > 0)


def _param(default: T, low: float | None, high: float | None, help: str, **kw: bool) -> T:
    """A dataclass field with this default and its `Limit` in the metadata."""
    return field(default=default, metadata={"limit": Limit(low, high, help, **kw)})


@dataclass(frozen=True)
class GenerateParams:
    """How to sample a continuation, declared once: chat, HTTP, CLI and the worker read this.

    Each field's metadata holds its `Limit`; `max_tokens` is also capped by the
    `trainer.max_new_tokens` setting (checked once, by the generation service).
    """

    max_tokens: int = _param(64, 1, 4096, "New tokens at most.")
    temperature: float = _param(0.8, 0, 5, "0 is greedy.")
    top_p: float = _param(0.95, 0, 1, "Nucleus sampling mass.", low_open=True)
    top_k: int = _param(50, 0, 1000, "Sample among the k likeliest (0: all).")
    repetition_penalty: float = _param(1.1, 0, 10, "Above 1 repeats less.", low_open=True)
    seed: int | None = _param(None, 0, 2**32 - 1, "Fixed seed: repeatable.")
    stop: tuple[str, ...] = _param((), 0, 8, "Stop strings (at most 8).")
    keywords: tuple[str, ...] = _param((), 0, 32, "Topic words (at most 32).")

    @staticmethod
    def limits() -> dict[str, Limit]:
        """Each parameter's `Limit`, in declaration order."""
        return {f.name: f.metadata["limit"] for f in dataclasses.fields(GenerateParams)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (stored with each prediction)."""
        return dataclasses.asdict(self)


ChatMessage = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "…"}
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationRequest:
    """One text generation call, sent to the generation worker.

    With `messages` the prompt is the conversation, rendered in the worker with the
    model's chat template (or the plain template of `trainer.data.formats` when the
    tokenizer has none) and an open assistant turn; `prompt` is then ignored. With
    `adapter_dir`, `model_dir` is the base and the adapter is switched on it (one base
    loaded for all its adapters). `n` answers are sampled for the one prompt.
    """

    model_dir: str
    prompt: str
    params: GenerateParams = field(default_factory=GenerateParams)
    messages: tuple[ChatMessage, ...] | None = None
    n: int = 1
    adapter_dir: str | None = None


@dataclass(frozen=True)
class Choice:
    """One of the `n` answers: its text and why it ended (a stop or the token limit)."""

    text: str
    finish_reason: FinishReason


@dataclass(frozen=True)
class Piece:
    """A streamed piece of answer `index`; the last piece of an answer has its reason."""

    index: int
    text: str
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class GenerationResult:
    """The answer of the generation worker.

    `text` is the first choice's; `completion_tokens` counts every choice, as OpenAI
    does. `dropped_messages` is how many of the oldest conversation turns did not fit in
    the model's context and were left out of the prompt.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    choices: tuple[Choice, ...] = ()
    dropped_messages: int = 0
