"""Synthetic corpora and tiny training runs shared by the trainer tests.

Everything is generated here: the corpora are small, regular languages that the
"micro" preset (2 layers, 64 wide) learns in a few dozen steps on a CPU.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trainer.events import TrainEvent
from trainer.methods import parse_method
from trainer.spec import Hyperparameters, TrainSpec

ANIMALS = ("cat", "dog", "fox", "owl", "bee", "cow")
VERBS = ("sees", "likes", "chases", "finds")
KEYWORDS = ("apple", "river", "candle", "tiger", "violin", "rocket", "garden", "mirror")


def write_text_corpus(path: Path, examples: int = 400, seed: int = 0) -> Path:
    """A JSONL text dataset of two-sentence animal stories."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(examples):
            a, b = rng.sample(ANIMALS, 2)
            verb = rng.choice(VERBS)
            text = f"the {a} {verb} the {b}. the {b} {verb} the {a}."
            f.write(json.dumps({"text": text}) + "\n")
    return path


def write_keyword_corpus(path: Path, examples: int = 600, seed: int = 0) -> Path:
    """A keywords dataset whose texts use their one keyword twice.

    Without the prefix the keyword is a 1-in-8 guess; with it, the model only has to
    learn to copy a word from the prefix, which the micro preset does in ~300 steps.
    """
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(examples):
            keyword = rng.choice(KEYWORDS)
            text = f"the {keyword} is here. i like the {keyword}."
            f.write(json.dumps({"keywords": [keyword], "text": text}) + "\n")
    return path


def micro_spec(tmp: Path, data: Path, name: str = "model", **changes: Any) -> TrainSpec:
    """A spec for the micro preset; hyperparameters small enough for a test.

    `base=` names another base (a folder), `method=` a raw method as people give it
    (`{"type": "lora", "lora": {"r": 8}}`), `resume=True` resumes; the rest are
    hyperparameters.
    """
    defaults: dict[str, Any] = {
        "max_steps": 40,
        "batch_size": 8,
        "block_size": 64,
        "learning_rate": 3e-3,
        "eval_every": 20,
        "save_every": 20,
    }
    resume = changes.pop("resume", False)
    method = parse_method(changes.pop("method", None))
    return TrainSpec(
        dataset_path=str(data),
        output_dir=str(tmp / name),
        checkpoint_dir=str(tmp / f"{name}.checkpoints"),
        base=changes.pop("base", "micro"),
        hyperparameters=Hyperparameters(**{**defaults, **changes}),
        resume=resume,
        device="cpu",
        method=method,
    )


@dataclass
class Recorder:
    """An event sink that keeps events and can fire a stop request at a chosen step."""

    events: list[TrainEvent] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)
    cancel_at_step: int | None = None

    def __call__(self, event: TrainEvent) -> None:
        self.events.append(event)
        if event["event"] == "progress" and event["step"] == self.cancel_at_step:
            self.cancel.set()

    def of(self, kind: str) -> list[TrainEvent]:
        """The events named `kind`, in order."""
        return [e for e in self.events if e["event"] == kind]


def train_in_process(spec: TrainSpec, recorder: Recorder | None = None) -> Recorder:
    """Run training in this process (no worker) and return the recorded events."""
    from trainer.callbacks import Control
    from trainer.train import run_training

    recorder = recorder or Recorder()
    with one_thread():
        run_training(spec, recorder, Control(recorder.cancel, recorder.pause))
    return recorder


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread, then back to what it was.

    The test models' matrices are too small to gain from a second thread, and on a shared
    2-core runner threads that wait on each other cost several times the work: a 4-step
    DPO run took 0.7 CPU s on one thread against 2.1 on two, and scoring 40 answers with
    the tiny GPT-2 0.5 s wall against 6-8 s (machine at load 11).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Every trainer test computes in this process on one thread (workers set their own)."""
    with one_thread():
        yield


@pytest.fixture(scope="session")
def text_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The animal-stories dataset file."""
    return write_text_corpus(tmp_path_factory.mktemp("data") / "stories.jsonl")


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, text_corpus: Path) -> Recorder:
    """One finished micro run on the text corpus (its folder is in the completed event)."""
    spec = micro_spec(tmp_path_factory.mktemp("trained"), text_corpus, max_steps=60)
    return train_in_process(spec)


@pytest.fixture(scope="session")
def trained_model_dir(trained_model: Recorder) -> str:
    """The folder of `trained_model`."""
    return str(trained_model.of("completed")[0]["model_dir"])


@pytest.fixture(scope="session")
def lora_run(
    tmp_path_factory: pytest.TempPathFactory, trained_model_dir: str
) -> tuple[TrainSpec, Recorder]:
    """A LoRA adapter (r=8) trained on `trained_model_dir` with sentences it has not seen."""
    tmp = tmp_path_factory.mktemp("lora")
    data = tmp / "keywords.jsonl"
    words = ("apple", "river", "candle", "tiger")
    rows = [{"text": f"the {w} is here. i like the {w}."} for w in words] * 40
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lora = {"type": "lora", "lora": {"r": 8}}
    hp = {"max_steps": 30, "eval_every": 15, "save_every": 15}
    spec = micro_spec(tmp, data, "adapter", base=trained_model_dir, method=lora, **hp)
    return spec, train_in_process(spec)


# Test modules cannot import this file (pytest runs with --import-mode=importlib), so
# the helpers are handed out as fixtures.
@pytest.fixture(name="micro_spec", scope="session")
def micro_spec_fixture() -> Any:
    """`micro_spec(tmp, data, name="model", **hyperparameters)` -> TrainSpec."""
    return micro_spec


@pytest.fixture(name="train_in_process", scope="session")
def train_in_process_fixture() -> Any:
    """`train_in_process(spec, recorder=None)` -> Recorder."""
    return train_in_process


@pytest.fixture(name="recorder")
def recorder_fixture() -> Any:
    """The Recorder class: `recorder(cancel_at_step=3)`."""
    return Recorder


@pytest.fixture(name="write_text_corpus")
def write_text_corpus_fixture() -> Any:
    """`write_text_corpus(path, examples=400, seed=0)` -> path."""
    return write_text_corpus


@pytest.fixture(name="write_keyword_corpus")
def write_keyword_corpus_fixture() -> Any:
    """`write_keyword_corpus(path, examples=600, seed=0)` -> path."""
    return write_keyword_corpus


@pytest.fixture(name="keyword_vocabulary")
def keyword_vocabulary_fixture() -> tuple[str, ...]:
    """The keywords `write_keyword_corpus` draws from."""
    return KEYWORDS
