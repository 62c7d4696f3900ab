"""DPO on OpenAI's preference format: rows checked line by line, margins that rise."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainer.data import read_dataset
from trainer.data.formats import CHAT_STOP, chat_prompt
from trainer.methods import parse_method
from trainer.spec import DataOptions, TrainSpec

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


def load_model(folder: str) -> Any:
    """A saved full model, or an adapter on the base it names (peft's own way)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from trainer.adapters import base_under

    under = base_under(folder)
    if under is None:
        return AutoModelForCausalLM.from_pretrained(folder).eval()
    base = AutoModelForCausalLM.from_pretrained(under)
    return PeftModel.from_pretrained(base, folder).eval()


def log_prob_margin(folder: str, rows: list[dict[str, Any]]) -> float:
    """Mean of log p(preferred) - log p(non-preferred) given the rendered conversation:
    the model's chat template when its tokenizer has one, else the plain template."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = load_model(folder)

    def rendered(messages: list[dict[str, str]], answer: str) -> tuple[str, str]:
        if not tokenizer.chat_template:
            return chat_prompt(messages), answer + CHAT_STOP
        turn = {"role": "assistant", "content": answer}
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        whole = tokenizer.apply_chat_template([*messages, turn], tokenize=False)
        assert whole.startswith(prompt), (prompt, whole)
        return prompt, whole[len(prompt) :]

    def score(messages: list[dict[str, str]], answer: str) -> float:
        prompt, completion = rendered(messages, answer)
        prompt_ids = tokenizer(prompt).input_ids
        ids = torch.tensor([prompt_ids + tokenizer(completion).input_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
        picked = logits.gather(1, ids[0, 1:][:, None])[:, 0]
        return float(picked[len(prompt_ids) - 1 :].sum())

    margins = []
    for row in rows:
        messages = row["input"]["messages"]
        good = row["preferred_output"][0]["content"]
        bad = row["non_preferred_output"][0]["content"]
        margins.append(score(messages, good) - score(messages, bad))
    return sum(margins) / len(margins)


# (the base it starts from, the method): a chat-template base trained on every weight, a
# chat-template base of another architecture with a new LoRA adapter, and a base without
# a template whose registered LoRA adapter DPO continues.
CASES = {
    "chat template, every weight": ("gpt2", {"type": "dpo", "dpo": {"beta": 0.1}}),
    "chat template, new LoRA adapter": ("llama", {"type": "dpo", "lora": {"r": 8}}),
    "plain template, adapter version continued": ("adapter", {"type": "dpo", "lora": {}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dpo_raises_the_preferred_answer_s_margin(
    case: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    lora_run: tuple[TrainSpec, Any],
    micro_spec: Callable[..., TrainSpec],
    train_in_process: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.support.pretrained import build_base

    start, method = CASES[case]
    if start == "adapter":
        base = lora_run[0].output_dir
    else:
        base = str(build_base(tmp_path_factory.getbasetemp(), start))  # type: ignore[arg-type]
    rows = preference_rows()
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hp = {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3, "val_fraction": 0.2}
    hp |= {"eval_every": 2, "save_every": 4}
    spec = micro_spec(tmp_path, data, "dpo", base=base, method=method, **hp)
    with caplog.at_level(logging.WARNING, logger="trl"):
        events = train_in_process(spec).events
    final = events[-1]
    assert "completed" == final["event"], final
    # TRL trains on what follows the rendered prompt; it warns when the prompt alone does
    # not tokenize as the start of prompt + answer (the loss would then cover prompt text).
    split = [r.getMessage() for r in caplog.records if "not a prefix" in r.getMessage()]
    assert [] == split
    metrics = final["metrics"]
    assert 0.0 == pytest.approx(metrics["initial_reward_margin"], abs=1e-6)  # policy = reference
    assert metrics["reward_margin"] > 0.0, metrics
    assert 0.0 <= metrics["reward_accuracy"] <= 1.0
    logs = [e["message"] for e in events if e["event"] == "log"]
    margins = [m for m in logs if "reward margin" in m]
    assert [0, 2, 4] == [int(m.split(":")[0].split()[1]) for m in margins]
    assert margins[0].startswith("step 0: reward margin 0.0000")
    plain = [m for m in logs if "conversations use the plain template" in m]
    assert (start == "adapter") == bool(plain)
    before = log_prob_margin(base, rows)
    after = log_prob_margin(spec.output_dir, rows)
    assert after > before, (before, after)
    if method.get("lora") is not None:
        saved = {p.name for p in Path(spec.output_dir).iterdir()}
        assert {"adapter_config.json", "adapter_model.safetensors"} <= saved
        assert "ref" not in saved  # TRL's frozen reference copy is no part of the version


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
