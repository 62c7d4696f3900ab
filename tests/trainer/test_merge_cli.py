"""`trainbot merge` on an adapter folder, and `trainbot train --method lora` flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import build_parser, main
from bot.cli.train import build_spec
from trainer.methods import DpoOptions, LoraOptions, Method


def greedy(model: object, folder: str) -> list[int]:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("the cat sees the", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False)  # type: ignore[attr-defined]
    return [int(t) for t in out[0, ids.shape[1] :]]


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: str) -> str:
    """An adapter with random (not zero) weights, so it changes what the base says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    model = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    # Seeded: with whatever random state earlier tests left, some draws did not change the
    # base's first 8 greedy tokens (seen when the suite ran in another order).
    torch.manual_seed(0)
    config = LoraConfig(
        r=4, target_modules=["c_attn", "c_fc"], init_lora_weights=False, fan_in_fan_out=True
    )
    get_peft_model(model, config).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(trained_model_dir).save_pretrained(str(folder))
    return str(folder)


def test_merge_writes_a_full_model_that_says_what_base_and_adapter_say(
    adapter_dir: str, trained_model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    assert 0 == main(["merge", adapter_dir, "--out", str(out)])
    expected = f"Merged {adapter_dir} into {trained_model_dir}: full model saved to {out}\n"
    assert expected == capsys.readouterr().out
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(out))
    base = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(trained_model_dir), adapter_dir
    )
    assert greedy(with_adapter, str(out)) == greedy(merged, str(out))
    assert greedy(base, str(out)) != greedy(merged, str(out))


def test_merging_a_full_model_folder_is_refused_in_words(
    trained_model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 2 == main(["merge", trained_model_dir, "--out", str(tmp_path / "x")])
    name = Path(trained_model_dir).name
    expected = f"trainbot merge: {name} is not a LoRA adapter (no adapter_config.json)\n"
    assert expected == capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_train_flags_become_the_method(tmp_path: Path) -> None:
    def method(*flags: str) -> Method:
        args = build_parser().parse_args(["train", "d.jsonl", "--out", str(tmp_path), *flags])
        return build_spec(args).method

    assert Method() == method()
    assert Method("lora", LoraOptions(r=8, alpha=16)) == method("--lora-r", "8")
    expected = Method("lora", LoraOptions(r=4, alpha=8, dropout=0.0, targets=("c_attn",)))
    flags = ("--method", "lora", "--lora-r", "4", "--lora-dropout", "0", "--lora-targets", "c_attn")
    assert expected == method(*flags)
    assert Method("dpo", None, DpoOptions(0.3)) == method("--method", "dpo", "--beta", "0.3")


def test_a_bad_lora_flag_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello"}\n')
    assert 2 == main(["train", str(data), "--out", str(tmp_path / "m"), "--lora-r", "0"])
    assert "trainbot train: r must be between 1 and 1024, got 0\n" == capsys.readouterr().err


def test_lora_flags_that_clash_with_an_adapter_base_are_refused_before_any_work(
    adapter_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"text": "the cat sees the dog {n}"}}\n' for n in range(12)))
    out = tmp_path / "m"
    argv = ["train", str(data), "--out", str(out), "--base", adapter_dir, "--lora-r", "8"]
    assert 2 == main([*argv, "--method", "lora"])
    expected = (
        "trainbot train: method=lora on a LoRA adapter continues that adapter with its own "
        "settings; leave out r=8 (the adapter has 4), or merge it first (trainbot merge) to "
        "train a new adapter on the merged model\n"
    )
    assert expected == capsys.readouterr().err
    assert not out.exists() and not Path(f"{out}.checkpoints").exists()
