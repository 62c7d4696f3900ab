"""Training runs in this process: learning, determinism, cancel, saving, bases."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

from trainer.artifacts import TRAINBOT_JSON, partial_dirs, save_atomically
from trainer.models import BaseModelError, load_base
from trainer.precision import choose


def test_a_tiny_run_lowers_eval_loss_well_below_the_initial_value(
    trained_model: Any,
) -> None:
    evals = trained_model.of("eval")
    completed = trained_model.of("completed")[0]

    assert evals[0]["initial"] is True and evals[0]["step"] == 0
    assert completed["metrics"]["eval_loss"] < 0.5 * evals[0]["eval_loss"]
    assert completed["metrics"]["initial_perplexity"] == pytest.approx(evals[0]["perplexity"])
    kinds = [e["event"] for e in trained_model.events if e["event"] != "log"]
    assert kinds[:2] == ["started", "eval"]
    assert trained_model.events[-1] is completed


def test_the_model_folder_loads_with_auto_classes_and_records_the_run(
    trained_model_dir: str, text_corpus: Path
) -> None:
    model = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(trained_model_dir)
    record = json.loads((Path(trained_model_dir) / TRAINBOT_JSON).read_text())

    files = {p.name for p in Path(trained_model_dir).iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json"} <= files
    assert {"tokenizer.json", "tokenizer_config.json"} <= files
    assert model.config.n_layer == 2
    assert tokenizer.decode(tokenizer("the fox sees")["input_ids"]) == "the fox sees"
    assert record["spec"]["base"] == "micro"
    assert len(record["dataset_sha256"]) == 64
    assert record["metrics"]["steps"] == 60
    assert {"torch", "transformers", "tokenizers", "python"} <= set(record["versions"])
    # bf16 where this CPU computes it natively: autocast during the run, fp32 weights saved.
    assert choose("cpu", "auto", parameters=0).precision == record["metrics"]["precision"]
    with safe_open(str(Path(trained_model_dir) / "model.safetensors"), "pt") as weights:
        names = weights.keys()  # a safetensors file handle is not iterable
        assert {"F32"} == {weights.get_slice(name).get_dtype() for name in names}


def test_same_spec_data_and_seed_give_the_same_loss_curve(
    tmp_path: Path, text_corpus: Path, micro_spec: Any, train_in_process: Any
) -> None:
    def curve(name: str) -> list[float]:
        spec = micro_spec(tmp_path, text_corpus, name=name, max_steps=12, eval_every=6)
        events = train_in_process(spec).events
        return [e["loss"] for e in events if e["event"] == "progress"] + [
            e["eval_loss"] for e in events if e["event"] == "eval"
        ]

    first, second = curve("a"), curve("b")

    assert len(first) == 12 + 3
    assert first == second


def test_cancel_stops_within_one_step_and_writes_no_model(
    tmp_path: Path, text_corpus: Path, micro_spec: Any, train_in_process: Any, recorder: Any
) -> None:
    spec = micro_spec(tmp_path, text_corpus, max_steps=100)

    recorder = train_in_process(spec, recorder(cancel_at_step=3))

    # The request is noticed at the end of the step after the one that reported it.
    assert recorder.events[-1] == {
        "event": "stopped",
        "reason": "cancel",
        "step": 4,
        "checkpoint": None,
    }
    assert not Path(spec.output_dir).exists()
    assert partial_dirs(Path(spec.output_dir)) == []


def test_a_saved_model_serves_as_the_base_of_another_run(
    tmp_path: Path,
    trained_model_dir: str,
    micro_spec: Any,
    train_in_process: Any,
    write_text_corpus: Any,
) -> None:
    data = write_text_corpus(tmp_path / "more.jsonl", examples=100, seed=7)
    spec = micro_spec(tmp_path, data, name="second", base=trained_model_dir, max_steps=10)

    recorder = train_in_process(spec)

    initial = recorder.of("eval")[0]["eval_loss"]
    # A pretrained base already knows the language: it starts far below a fresh model.
    assert initial < 2.0
    assert recorder.events[-1]["event"] == "completed"
    reloaded = AutoTokenizer.from_pretrained(spec.output_dir)
    assert len(reloaded) == len(AutoTokenizer.from_pretrained(trained_model_dir))


def test_early_stopping_ends_a_run_that_stops_improving(
    tmp_path: Path, text_corpus: Path, micro_spec: Any, train_in_process: Any
) -> None:
    spec = micro_spec(
        tmp_path,
        text_corpus,
        max_steps=200,
        learning_rate=0.0,
        eval_every=5,
        save_every=5,
        early_stopping_patience=2,
    )

    recorder = train_in_process(spec)

    completed = recorder.events[-1]
    assert completed["event"] == "completed"
    assert completed["metrics"]["early_stopped"] is True
    assert completed["metrics"]["steps"] < 50


def test_a_hub_id_that_cannot_be_fetched_fails_with_one_readable_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub

    # The variable is read when huggingface_hub is imported, so set the constants too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline_module = sys.modules[huggingface_hub.is_offline_mode.__module__]
    monkeypatch.setattr(offline_module, "HF_HUB_OFFLINE", True, raising=False)

    with pytest.raises(BaseModelError) as caught:
        load_base("someone/no-such-model", ["text"], seed=1)

    message = str(caught.value)
    assert "\n" not in message
    assert "someone/no-such-model" in message and "offline" in message


def test_a_missing_base_folder_is_named() -> None:
    with pytest.raises(BaseModelError, match="does not exist"):
        load_base("./no/such/folder", ["text"], seed=1)


def test_an_interrupted_save_leaves_neither_model_nor_temporary_folder(tmp_path: Path) -> None:
    output = tmp_path / "model"

    def write_half_then_die(folder: Path) -> None:
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_atomically(output, write_half_then_die, {})

    assert not output.exists()
    assert partial_dirs(output) == []


def test_saving_over_an_existing_model_replaces_it_whole(tmp_path: Path) -> None:
    output = tmp_path / "model"
    output.mkdir()
    (output / "old.txt").write_text("old")

    save_atomically(output, lambda folder: folder.mkdir() or None, {"run": 2})

    assert sorted(p.name for p in output.iterdir()) == [TRAINBOT_JSON]
    assert json.loads((output / TRAINBOT_JSON).read_text())["run"] == 2
