"""Pretrained bases: chat templates and masks, packing apart, two architectures, memory.

The bases are the tiny GPT-2 and Llama-style models of `tests.support.pretrained`,
built once per session and "pretrained" on text like the test corpora.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from bot.core.errors import Invalid
from bot.core.jobs.bases import base_shape, estimate_memory, memory_refusal
from tests.support.pretrained import build_base
from trainer.data import Example
from trainer.models import context_length, separates_packed
from trainer.packing import IGNORE_INDEX, TokenizedExample, pack, tokenize_examples
from trainer.workers.training import failure_event


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.getbasetemp()
    return {arch: build_base(root, arch) for arch in ("gpt2", "llama")}


@pytest.fixture(scope="module")
def chat_tokenizer(bases: dict[str, Path]) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(bases["llama"])


def test_chat_is_rendered_with_the_template_and_only_weighted_assistant_turns_train(
    chat_tokenizer: PreTrainedTokenizerBase,
) -> None:
    messages = (
        {"role": "system", "content": "be brief", "weight": 1},
        {"role": "user", "content": "who sees the dog?"},
        {"role": "assistant", "content": "the cat sees the dog.", "weight": 0},
        {"role": "user", "content": "and the owl?"},
        {"role": "assistant", "content": "the fox sees the owl.", "weight": 1},
    )
    item = Example(line=1, segments=(("unused", True),), messages=messages)

    (tokenized,) = tokenize_examples([item], chat_tokenizer)
    eos = int(chat_tokenizer.eos_token_id)
    blocks = pack([tokenized], block_size=len(tokenized.ids) + 1, eos_id=eos, pad_id=0)

    rendered = chat_tokenizer.apply_chat_template(list(messages), tokenize=False)
    assert chat_tokenizer.decode(blocks.input_ids[0]) == rendered.rstrip()
    trained = [label for label in blocks.labels[0] if label != IGNORE_INDEX]
    assert chat_tokenizer.decode(trained) == "the fox sees the owl.<|im_end|>"
    answer = chat_tokenizer("the fox sees the owl.", add_special_tokens=False)["input_ids"]
    assert blocks.labels[0][-len(answer) - 1 :] == [*answer, eos]


def test_packed_examples_restart_their_positions_and_blocks_start_at_zero() -> None:
    examples = [
        TokenizedExample([1, 2, 3], [True] * 3),
        TokenizedExample([4] * 4, [True] * 4),
        TokenizedExample([5, 6], [True] * 2),
    ]

    blocks = pack(examples, block_size=5, eos_id=0, pad_id=9)

    assert blocks.input_ids == [[1, 2, 3, 0, 4], [4, 4, 4, 0, 5], [6, 0, 9, 9, 9]]
    assert blocks.position_ids == [[0, 1, 2, 3, 0], [0, 1, 2, 3, 0], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_restarted_positions_keep_packed_examples_apart_in_both_architectures(
    bases: dict[str, Path], arch: str
) -> None:
    model = AutoModelForCausalLM.from_pretrained(bases[arch])

    model.config.use_cache = False
    assert separates_packed(model) is True
    # With a cache the mask builder ignores position ids: the check must see that.
    model.config.use_cache = True
    assert separates_packed(model) is False


def test_context_length_is_read_from_any_family_s_config(bases: dict[str, Path]) -> None:
    gpt2 = AutoModelForCausalLM.from_pretrained(bases["gpt2"]).config
    llama = AutoModelForCausalLM.from_pretrained(bases["llama"]).config

    assert (gpt2.n_positions, llama.max_position_embeddings) == (256, 256)
    assert (context_length(gpt2), context_length(llama)) == (256, 256)


def test_the_generation_window_is_read_from_any_family_s_config() -> None:
    from transformers import BloomConfig, BloomForCausalLM, GPTJConfig, GPTJForCausalLM

    from trainer.models import DEFAULT_CONTEXT
    from trainer.workers.generation_child import LoadedBase

    # GPT-J keeps its context in n_positions; Bloom (ALiBi) declares none at all.
    gptj = GPTJForCausalLM(GPTJConfig(n_embd=32, n_layer=1, n_head=2, n_positions=96))
    bloom = BloomForCausalLM(BloomConfig(hidden_size=32, n_layer=1, n_head=2))
    windows = [LoadedBase("m", model, tokenizer=None).window for model in (gptj, bloom)]  # type: ignore[arg-type]
    assert [96, DEFAULT_CONTEXT] == windows


def test_the_memory_estimate_reads_the_base_and_refuses_what_cannot_fit(
    bases: dict[str, Path],
) -> None:
    shape = base_shape(bases["llama"])
    model = AutoModelForCausalLM.from_pretrained(bases["llama"])
    assert shape is not None
    assert shape.parameters == model.num_parameters()
    full = estimate_memory(shape, "full", batch_size=8, block_size=64)
    lora = estimate_memory(shape, "lora", batch_size=8, block_size=64)

    assert lora.weights_and_optimizer * 4 == full.weights_and_optimizer
    assert memory_refusal(full, full.total, "full") is None
    refusal = memory_refusal(full, full.total - 1, "full")
    assert isinstance(refusal, Invalid)
    assert "would need about" in str(refusal)
    assert "lower batch_size or block_size" in str(refusal)
    assert "method=lora" in str(refusal)
    assert "method=lora" not in str(memory_refusal(lora, 0, "lora"))


def test_a_run_out_of_memory_fails_with_advice() -> None:
    import torch

    try:
        torch.empty(1 << 50)  # 4 PiB: the allocator refuses at once
    except RuntimeError as exc:
        event = failure_event(exc)

    assert event["event"] == "failed"
    assert event.get("code") == "out_of_memory"
    assert event["error"] == (
        "out of memory while training on the CPU: lower batch_size or block_size, "
        "or train a LoRA adapter (method=lora), which keeps the base's weights frozen"
    )


@pytest.fixture(scope="module")
def runs(
    bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, request: Any
) -> dict[str, Any]:
    """Equal short runs on the text corpus: from scratch (micro) and from both bases."""
    micro_spec = request.getfixturevalue("micro_spec")
    train_in_process = request.getfixturevalue("train_in_process")
    corpus = request.getfixturevalue("text_corpus")
    tmp = tmp_path_factory.mktemp("bases-runs")
    settings = {"max_steps": 10, "eval_every": 10, "save_every": 10, "batch_size": 8}
    return {
        name: train_in_process(micro_spec(tmp, corpus, name=name, base=base, **settings))
        for name, base in (
            ("scratch", "micro"),
            ("gpt2", str(bases["gpt2"])),
            ("llama", str(bases["llama"])),
        )
    }


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_pretrained_base_fine_tunes_below_a_from_scratch_preset_at_equal_steps(
    runs: dict[str, Any], arch: str
) -> None:
    scratch = runs["scratch"].of("completed")[0]["metrics"]
    tuned = runs[arch].of("completed")[0]["metrics"]
    initial = runs[arch].of("eval")[0]

    assert tuned["steps"] == scratch["steps"] == 10
    assert tuned["eval_loss"] < scratch["eval_loss"]
    assert tuned["base_eval_loss"] == pytest.approx(initial["eval_loss"])
    assert tuned["eval_loss"] <= tuned["base_eval_loss"]
    assert scratch["base_eval_loss"] is None  # a preset has no base to compare with


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_the_run_says_its_device_precision_and_that_packing_keeps_examples_apart(
    runs: dict[str, Any], arch: str
) -> None:
    messages = [e["message"] for e in runs[arch].of("log")]
    precision = runs[arch].of("completed")[0]["metrics"]["precision"]

    assert f"training on cpu in {precision}" in messages
    assert not [m for m in messages if "packed examples can attend" in m]
    # The cache is off while training only: the saved model generates with it.
    saved = Path(runs[arch].of("completed")[0]["model_dir"]) / "config.json"
    assert json.loads(saved.read_text())["use_cache"] is True


def test_chat_data_on_a_base_without_a_template_says_it_uses_the_plain_one(
    tmp_path: Path, bases: dict[str, Path], micro_spec: Any
) -> None:
    from trainer.train import prepare

    data = tmp_path / "chat.jsonl"
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data.write_text("".join(json.dumps(chat) + "\n" for _ in range(20)))
    said: dict[str, list[str]] = {}
    for base in ("micro", str(bases["llama"])):
        events: list[Any] = []
        prepare(micro_spec(tmp_path, data, base=base, block_size=32), events.append)
        said[base] = [e["message"] for e in events if e["event"] == "log"]

    assert "the base has no chat template: conversations use the plain one" in said["micro"]
    assert "conversations are rendered with the base's chat template" in said[str(bases["llama"])]


def test_a_hub_id_in_the_local_cache_is_its_snapshot_folder(tmp_path: Path) -> None:
    from bot.core.jobs.bases import hub_snapshot

    repo = tmp_path / "models--someone--tiny-chat"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")

    assert hub_snapshot("someone/tiny-chat", cache_dir=tmp_path) == snapshot
    assert hub_snapshot("someone/elsewhere", cache_dir=tmp_path) is None


def test_a_collated_training_batch_keeps_its_packed_examples_apart(
    bases: dict[str, Path],
) -> None:
    import torch
    from transformers import default_data_collator

    from trainer.train import BlockDataset

    model = AutoModelForCausalLM.from_pretrained(bases["llama"]).eval()
    model.config.use_cache = False
    first, second = [5, 6, 7, 8], [9, 10, 11]
    blocks = pack(
        [TokenizedExample(first, [True] * 4), TokenizedExample(second, [True] * 3)],
        block_size=9,
        eos_id=2,
        pad_id=0,
    )
    batch = default_data_collator([BlockDataset(blocks, separate=True)[0]])

    with torch.no_grad():
        packed = model(**batch).logits[0, 5:8]
        alone = model(input_ids=torch.tensor([second])).logits[0]

    assert set(batch) == {"input_ids", "labels", "position_ids"}
    torch.testing.assert_close(packed, alone, atol=1e-4, rtol=1e-4)


def test_the_time_estimate_scales_a_measured_speed_by_size_and_method() -> None:
    from bot.core.jobs.bases import BaseShape, scaled_tokens_per_s

    big = BaseShape(parameters=100_000_000, layers=12, width=768, vocab=8000)

    full = scaled_tokens_per_s(20_000.0, 5_000_000, big, "full")
    lora = scaled_tokens_per_s(20_000.0, 5_000_000, big, "lora")

    assert full == pytest.approx(1_000.0)
    assert lora == pytest.approx(1_500.0)
    assert scaled_tokens_per_s(20_000.0, 5_000_000, big, "dpo") == pytest.approx(500.0)


def test_precision_switches_on_a_cpu_follow_the_request_and_refuse_fp16() -> None:
    from trainer.precision import Switches, choose, training_switches

    bf16 = choose("cpu", "bf16", parameters=10)

    assert bf16 == Switches("cpu", "bf16")
    assert bf16.describe() == "training on cpu in bf16"
    assert training_switches(bf16)["bf16"] is True
    assert training_switches(bf16)["optim"] == "adamw_torch"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU"):
        choose("cpu", "fp16", parameters=10)
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16"):
        choose("cpu", "fp8", parameters=10)
