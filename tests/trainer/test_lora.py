"""LoRA adapters: trained on a saved base, stored as peft's folder, checked settings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from trainer.methods import DpoOptions, LoraOptions, Method, MethodError, parse_method
from trainer.spec import TrainSpec


class Recorded(Protocol):
    """What `train_in_process` returns (conftest's Recorder)."""

    events: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]: ...


LoraRun = tuple[TrainSpec, Recorded]


def test_lora_trains_an_adapter_that_lowers_eval_loss(lora_run: LoraRun) -> None:
    _spec, recorder = lora_run
    metrics = recorder.of("completed")[0]["metrics"]
    assert metrics["perplexity"] < metrics["initial_perplexity"] * 0.7
    logged = [e["message"].split(":")[0] for e in recorder.of("log") if "LoRA" in e["message"]]
    assert ["LoRA r=8 alpha=16 dropout=0.05 on c_attn, c_fc, c_proj"] == logged


def test_the_adapter_folder_is_peft_s_and_names_its_base(
    lora_run: LoraRun, trained_model_dir: str
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec, _ = lora_run
    folder = Path(spec.output_dir)
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not (folder / "model.safetensors").exists()
    record = json.loads((folder / "trainbot.json").read_text())
    assert ("adapter", trained_model_dir) == (record["kind"], record["base_path"])
    base = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    plain = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    adapted = PeftModel.from_pretrained(base, str(folder))
    ids = AutoTokenizer.from_pretrained(str(folder))("the apple is here.", return_tensors="pt")
    with torch.no_grad():
        differs = not torch.allclose(adapted(**ids).logits, plain(**ids).logits)
    assert differs  # the adapter changes the output; the base folder itself is untouched


def test_an_unknown_target_is_refused_with_the_layers_the_base_has(
    tmp_path: Path,
    trained_model_dir: str,
    text_corpus: Path,
    micro_spec: Callable[..., TrainSpec],
    train_in_process: Callable[..., Any],
) -> None:
    from trainer.lora import LoraSettingError

    spec = micro_spec(tmp_path, text_corpus, base=trained_model_dir, max_steps=2)
    method = parse_method({"type": "lora", "lora": {"targets": "q_proj,c_attn"}})
    with pytest.raises(LoraSettingError) as caught:
        train_in_process(dataclasses.replace(spec, method=method))
    expected = (
        "LoRA target q_proj is not a linear layer of this base (it has: c_attn, c_fc, c_proj)"
    )
    assert expected == str(caught.value)
    assert not Path(spec.output_dir).exists()


def test_lora_on_a_preset_is_refused(
    tmp_path: Path,
    text_corpus: Path,
    micro_spec: Callable[..., TrainSpec],
    train_in_process: Callable[..., Any],
) -> None:
    from trainer.lora import LoraSettingError

    spec = micro_spec(tmp_path, text_corpus, max_steps=2)
    with pytest.raises(LoraSettingError, match="LoRA adapts a pretrained base"):
        train_in_process(dataclasses.replace(spec, method=parse_method({"type": "lora"})))


def test_qlora_without_cuda_and_bitsandbytes_is_refused_in_words() -> None:
    import importlib.util

    import torch

    from trainer.lora import check_quantize

    if torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes"):
        pytest.skip("this machine can run QLoRA")
    with pytest.raises(ValueError, match=r"QLoRA \(quantize=4bit\) needs .*plain LoRA"):
        check_quantize(LoraOptions(quantize="4bit"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "lora", "lora": {"r": 0}}, ["r must be between 1 and 1024, got 0"]),
        (
            {"type": "lora", "lora": {"dropout": "2"}},
            ["dropout must be between 0 and 0.9, got 2"],
        ),
        ({"type": "lora", "lora": {"r": "x"}}, ["r must be an integer, got 'x'"]),
        (
            {"type": "lora", "lora": {"rank": 4}},
            ["unknown LoRA setting 'rank' (known: r, alpha, dropout, targets, quantize)"],
        ),
        ({"type": "lora", "lora": {"quantize": "3bit"}}, ["quantize must be 4bit, got '3bit'"]),
        ({"type": "adapter"}, ["method must be one of full, lora, dpo, got 'adapter'"]),
        ({"type": "full", "dpo": {"beta": 1}}, ["beta is a DPO setting: use it with method=dpo"]),
        ({"type": "dpo", "dpo": {"beta": 0}}, ["beta must be between 0.0001 and 10, got 0"]),
    ],
)
def test_bad_method_settings_are_refused_with_each_problem(
    raw: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(MethodError) as caught:
        parse_method(raw)
    assert expected == caught.value.problems


def test_a_method_survives_the_spec_s_json_round_trip(
    tmp_path: Path, micro_spec: Callable[..., TrainSpec]
) -> None:
    raw = {"type": "dpo", "dpo": {"beta": "0.2"}, "lora": {"r": "4", "targets": "c_attn"}}
    spec = dataclasses.replace(micro_spec(tmp_path, tmp_path / "d"), method=parse_method(raw))
    stored = TrainSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    expected = Method("dpo", LoraOptions(r=4, alpha=8, targets=("c_attn",)), DpoOptions(0.2))
    assert expected == stored.method


def test_a_llama_style_base_gets_every_projection_adapted_and_loads_with_peft(
    tmp_path_factory: pytest.TempPathFactory,
    micro_spec: Callable[..., TrainSpec],
    train_in_process: Callable[..., Recorded],
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tests.support.pretrained import build_base

    base = str(build_base(tmp_path_factory.getbasetemp(), "llama"))
    tmp = tmp_path_factory.mktemp("lora-llama")
    data = tmp / "chat.jsonl"
    turns = [("who sees the fox?", "the owl sees the fox."), ("who likes the cow?", "the bee.")]
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in turns * 12
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lora = {"type": "lora", "lora": {"r": "4", "dropout": "0"}}
    hp = {"max_steps": 6, "batch_size": 4, "eval_every": 3, "save_every": 6}
    spec = micro_spec(tmp, data, "adapter", base=base, method=lora, learning_rate=5e-4, **hp)
    events = train_in_process(spec)
    assert "completed" == events.events[-1]["event"], events.events[-1]
    logged = [e["message"].split(":")[0] for e in events.of("log") if "LoRA" in e["message"]]
    targets = "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"
    assert [f"LoRA r=4 alpha=8 dropout=0 on {targets}"] == logged
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), spec.output_dir)
    assert "llama" == adapted.config.model_type


@pytest.mark.parametrize("method", ["lora", "full"])
def test_an_adapter_version_as_base_is_continued_or_merged_then_fully_tuned(
    method: str,
    tmp_path: Path,
    lora_run: LoraRun,
    trained_model_dir: str,
    train_in_process: Callable[..., Recorded],
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first_spec, first = lora_run
    hp = dataclasses.replace(first_spec.hyperparameters, max_steps=2, eval_every=2, save_every=2)
    spec = dataclasses.replace(
        first_spec,
        output_dir=str(tmp_path / "next"),
        checkpoint_dir=str(tmp_path / "next.checkpoints"),
        base=first_spec.output_dir,  # the adapter folder, as a registered adapter version
        hyperparameters=hp,
        method=parse_method({"type": method}),  # r=16 by default: a continued adapter keeps 8
    )
    events = train_in_process(spec)
    final = events.events[-1]
    assert "completed" == final["event"], final
    # Step 0 evaluates what the run starts from, base + adapter, on the same split as the
    # adapter's own last evaluation: the comparison with the base holds for adapters too.
    first_loss = first.of("completed")[0]["metrics"]["eval_loss"]
    assert first_loss == pytest.approx(final["metrics"]["base_eval_loss"], rel=1e-4)
    record = json.loads((tmp_path / "next" / "trainbot.json").read_text())
    lineage = {k: record[k] for k in ("kind", "base_path", "adapter_from")}
    said = [e["message"] for e in events.of("log") if "LoRA adapter this run" in e["message"]]
    ids = AutoTokenizer.from_pretrained(trained_model_dir)("the apple is", return_tensors="pt")
    if method == "lora":
        assert {
            "kind": "adapter",
            "base_path": trained_model_dir,  # the adapter's base, never the adapter
            "adapter_from": first_spec.output_dir,
        } == lineage
        config = json.loads((tmp_path / "next" / "adapter_config.json").read_text())
        assert 8 == config["r"]
        expected = [
            "continuing the LoRA adapter this run starts from, with its own settings "
            "(r=8, alpha=16); the base stays frozen"
        ]
        loaded = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(trained_model_dir), spec.output_dir
        )
    else:
        assert {"kind": "full", "base_path": None, "adapter_from": first_spec.output_dir} == (
            lineage
        )
        assert not (tmp_path / "next" / "adapter_config.json").exists()
        expected = [
            "the LoRA adapter this run starts from is merged into its base in memory; "
            "every weight trains"
        ]
        loaded = AutoModelForCausalLM.from_pretrained(spec.output_dir)
    assert expected == said
    started_from = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(trained_model_dir), first_spec.output_dir
    )
    with torch.no_grad():
        moved = not torch.allclose(loaded(**ids).logits, started_from(**ids).logits)
    assert moved  # the two steps trained something: it is not the adapter it started from
