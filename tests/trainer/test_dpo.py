"""DPO on OpenAI's preference format: rows checked line by line, margins that rise."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from trainer.data import read_dataset
from trainer.data.formats import CHAT_STOP, chat_prompt
from trainer.methods import parse_method
from trainer.spec import DataOptions, Hyperparameters, TrainSpec

ANIMALS = ("cat", "dog", "fox", "owl", "bee", "cow")


def pair(question: str, good: str, bad: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def preference_rows() -> list[dict[str, Any]]:
    """Each question is answered better by the sentence that starts with the cat."""
    rows = []
    for other in ANIMALS[1:]:
        for verb in ("sees", "likes", "chases", "finds"):
            question = f"who {verb} the {other}?"
            rows.append(
                pair(question, f"the cat {verb} the {other}.", f"the {other} {verb} the cat.")
            )
    return rows


def log_prob_margin(model_dir: str, rows: list[dict[str, Any]]) -> float:
    """Mean of log p(preferred) - log p(non-preferred) given the rendered conversation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()

    def score(prompt: str, answer: str) -> float:
        prompt_ids = tokenizer(prompt).input_ids
        ids = torch.tensor([prompt_ids + tokenizer(answer + CHAT_STOP).input_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        picked = logits.gather(1, targets[:, None])[:, 0]
        return float(picked[len(prompt_ids) - 1 :].sum())

    margins = []
    for row in rows:
        prompt = chat_prompt(row["input"]["messages"])
        good = row["preferred_output"][0]["content"]
        bad = row["non_preferred_output"][0]["content"]
        margins.append(score(prompt, good) - score(prompt, bad))
    return sum(margins) / len(margins)


def test_dpo_raises_the_preferred_answer_s_margin(tmp_path: Path, trained_model_dir: str) -> None:
    from trainer.callbacks import Control
    from trainer.train import run_training

    rows = preference_rows()
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hp = Hyperparameters(max_steps=12, batch_size=4, block_size=64, learning_rate=2e-3)
    hp = hp.replace(eval_every=6, save_every=12, val_fraction=0.2)
    spec = TrainSpec(
        dataset_path=str(data),
        output_dir=str(tmp_path / "dpo"),
        checkpoint_dir=str(tmp_path / "dpo.checkpoints"),
        base=trained_model_dir,
        hyperparameters=hp,
        device="cpu",
        method=parse_method({"type": "dpo", "dpo": {"beta": 0.1}}),
    )
    events: list[Any] = []
    final = run_training(spec, events.append, Control(threading.Event(), threading.Event()))
    assert "completed" == final["event"], final
    metrics = final["metrics"]
    assert 0.0 == pytest.approx(metrics["initial_reward_margin"], abs=1e-6)  # policy = reference
    assert metrics["reward_margin"] > 0.0, metrics
    assert 0.0 <= metrics["reward_accuracy"] <= 1.0
    logged = [
        e["message"] for e in events if e["event"] == "log" and "reward margin" in e["message"]
    ]
    assert logged[0].startswith("step 0: reward margin 0.0000")
    before = log_prob_margin(trained_model_dir, rows)
    after = log_prob_margin(spec.output_dir, rows)
    assert after > before, (before, after)


def test_preference_rows_are_checked_one_by_one(tmp_path: Path) -> None:
    good = preference_rows()
    bad: list[object] = [
        {"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []},
        {**good[0], "preferred_output": [{"role": "user", "content": "x"}]},
        {**good[0], "non_preferred_output": good[0]["preferred_output"]},
        {"input": {"messages": [{"role": "user", "content": "hi"}]}, "preferred_output": []},
        [1, 2],
    ]
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [*good, *bad]))
    report = read_dataset(str(data), DataOptions())
    assert "preference" == report.format
    expected = [
        "line 21: field 'input.messages' must be a non-empty array, got array",
        "line 22: field 'preferred_output' must hold an assistant message, got 'user'",
        "line 23: the preferred and the non-preferred answer are the same",
        "line 24: missing field 'non_preferred_output'",
        "line 25: expected a JSON object, got array",
    ]
    assert expected == [str(e) for e in report.errors]
    kept = read_dataset(str(data), DataOptions(skip_invalid=True))
    assert (True, 20) == (kept.ok, len(kept.examples))
    assert "the cat sees the dog." in kept.examples[0].trained_text


def test_dpo_on_a_dataset_of_another_format_fails_in_words(
    tmp_path: Path, trained_model_dir: str, text_corpus: Path
) -> None:
    from trainer.callbacks import Control
    from trainer.train import run_training

    spec = TrainSpec(
        dataset_path=str(text_corpus),
        output_dir=str(tmp_path / "dpo"),
        checkpoint_dir=str(tmp_path / "dpo.checkpoints"),
        base=trained_model_dir,
        device="cpu",
        method=parse_method({"type": "dpo"}),
    )
    with pytest.raises(ValueError) as caught:
        run_training(spec, lambda e: None, Control(threading.Event(), threading.Event()))
    expected = (
        "method=dpo needs a dataset in the preference format (input, preferred_output, "
        "non_preferred_output); this one is text"
    )
    assert expected == str(caught.value)
    assert not Path(spec.output_dir).exists()
