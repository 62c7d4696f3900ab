"""The batching engine in this process: batched answers equal lone ones, streams, cancel,
chat templates and adapter hot-swap, on the tiny pretrained bases and a trained micro model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.support.pretrained import build_base
from trainer.data.formats import chat_prompt
from trainer.spec import GenerateParams, GenerationRequest, GenerationResult, Piece
from trainer.workers.generation_child import ModelCache
from trainer.workers.generation_engine import Engine, generate_text

GREEDY = GenerateParams(temperature=0, repetition_penalty=1.0, max_tokens=12)
PROMPTS = ("the cat", "the owl finds the", "a", "the dog likes the bee. the")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_base(tmp_path_factory.getbasetemp(), "llama"))


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache(4)


def run(engine: Engine) -> dict[int, list[object]]:
    """Step until every request is answered; each request's events in order."""
    events: dict[int, list[object]] = {}
    while not engine.idle:
        for request_id, kind, payload in engine.step():
            assert kind != "error", payload
            events.setdefault(request_id, []).append(payload)
    return events


def result_of(events: list[object]) -> GenerationResult:
    assert isinstance(events[-1], GenerationResult)
    return events[-1]


def test_batched_greedy_answers_equal_lone_ones_and_bare_generate(
    trained_model_dir: str, cache: ModelCache
) -> None:
    alone = [
        generate_text(cache, GenerationRequest(trained_model_dir, p, GREEDY)).text for p in PROMPTS
    ]
    engine = Engine(cache)
    for request_id, prompt in enumerate(PROMPTS):
        engine.submit(request_id, GenerationRequest(trained_model_dir, prompt, GREEDY))
    batched = [result_of(events).text for _, events in sorted(run(engine).items())]

    model, tokenizer = cache.get(trained_model_dir)
    ids = tokenizer(PROMPTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)  # type: ignore[operator]
    bare = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    assert alone == batched
    assert bare == alone[1]


def test_a_request_joining_mid_way_gets_its_lone_answer(
    trained_model_dir: str, cache: ModelCache
) -> None:
    long = GenerationRequest(trained_model_dir, PROMPTS[3], GREEDY)
    short = GenerationRequest(
        trained_model_dir, PROMPTS[0], GenerateParams(temperature=0, max_tokens=4)
    )
    engine = Engine(cache)
    engine.submit(1, long)
    first = engine.step() + engine.step() + engine.step()
    engine.submit(2, short)  # joins a batch three tokens in
    events = run(engine)
    events[1] = [p for _, _, p in first] + events[1]

    assert generate_text(cache, long).text == result_of(events[1]).text
    assert generate_text(cache, short).text == result_of(events[2]).text


def test_streamed_pieces_concatenate_to_the_answer_and_the_last_has_the_reason(
    trained_model_dir: str, cache: ModelCache
) -> None:
    engine = Engine(cache)
    params = GenerateParams(seed=4, max_tokens=16, stop=(" the",))
    engine.submit(1, GenerationRequest(trained_model_dir, "the fox", params, n=2))
    events = run(engine)[1]
    pieces = [e for e in events if isinstance(e, Piece)]
    result = result_of(events)

    for index in (0, 1):
        mine = [p for p in pieces if p.index == index]
        assert result.choices[index].text == "".join(p.text for p in mine)
        assert [result.choices[index].finish_reason] == [
            p.finish_reason for p in mine if p.finish_reason
        ]
        assert mine[-1].finish_reason is not None
        assert " the" not in result.choices[index].text
    assert result.text == result.choices[0].text


def test_a_fixed_seed_repeats_and_n_answers_differ(
    trained_model_dir: str, cache: ModelCache
) -> None:
    request = GenerationRequest(
        trained_model_dir, "the", GenerateParams(seed=9, max_tokens=16, temperature=1.5), n=3
    )

    first, second = generate_text(cache, request), generate_text(cache, request)

    assert first.choices == second.choices
    assert len({c.text for c in first.choices}) > 1


def test_cancel_stops_the_work_at_the_next_step(trained_model_dir: str, cache: ModelCache) -> None:
    engine = Engine(cache)
    long = GenerateParams(temperature=0, max_tokens=100)
    short = GenerateParams(temperature=0, max_tokens=3, repetition_penalty=1.0)
    engine.submit(1, GenerationRequest(trained_model_dir, "the cat", long))
    engine.submit(2, GenerationRequest(trained_model_dir, "the dog", short))
    engine.step()
    engine.cancel(1)
    steps = 0
    later: list[int] = []
    while not engine.idle:
        later += [request_id for request_id, _, _ in engine.step()]
        steps += 1

    assert {2} == set(later)
    assert steps <= 3  # the 100-token answer is no longer stepped


def test_chat_uses_the_models_template_and_usage_counts_its_tokens(
    llama: str, cache: ModelCache
) -> None:
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"})
    _, tokenizer = cache.get(llama)
    rendered = tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=True
    )
    expected_prompt = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])

    result = generate_text(cache, GenerationRequest(llama, "", GREEDY, messages=messages))
    as_text = generate_text(cache, GenerationRequest(llama, str(rendered), GREEDY))

    assert expected_prompt == result.prompt_tokens
    assert as_text.text == result.text
    # Usage counts generated tokens, special ones included (what the model wrote).
    finished = {"length": 12}.get(result.choices[0].finish_reason, result.completion_tokens)
    assert finished == result.completion_tokens


def test_chat_without_a_template_uses_the_plain_one_and_drops_the_oldest_turns(
    trained_model_dir: str, cache: ModelCache
) -> None:
    long_turn = "the cat sees the dog. " * 12  # ~70 tokens; the micro window is 128
    messages = (
        {"role": "user", "content": long_turn},
        {"role": "assistant", "content": long_turn},
        {"role": "user", "content": "the owl"},
    )
    params = GenerateParams(temperature=0, max_tokens=8)

    result = generate_text(
        cache, GenerationRequest(trained_model_dir, "", params, messages=messages)
    )
    last_only = chat_prompt(messages[2:])
    plain = generate_text(cache, GenerationRequest(trained_model_dir, last_only, params))

    assert 2 == result.dropped_messages
    assert plain.text.split("<|im_end|>")[0] == result.text


def _lora(base: str, folder: Path, seed: int) -> str:
    """A LoRA adapter with random (non-zero) weights, saved as peft saves it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(str(folder))
    return str(folder)


def test_two_adapters_on_one_base_each_answer_as_when_loaded_alone(
    llama: str, tmp_path: Path
) -> None:
    first, second = _lora(llama, tmp_path / "a", 1), _lora(llama, tmp_path / "b", 2)
    shared = ModelCache(1)
    engine = Engine(shared)
    prompt = "the cat"
    requests = {
        1: GenerationRequest(llama, prompt, GREEDY, adapter_dir=first),
        2: GenerationRequest(llama, prompt, GREEDY, adapter_dir=second),
        3: GenerationRequest(llama, prompt, GREEDY),
    }
    for request_id, request in requests.items():
        engine.submit(request_id, request)
    together = {i: result_of(e).text for i, e in run(engine).items()}

    alone = {i: generate_text(ModelCache(1), r).text for i, r in requests.items()}
    # An adapter folder named as the model finds its base in adapter_config.json.
    config = json.loads((Path(first) / "adapter_config.json").read_text())
    moved = shutil.copytree(first, tmp_path / "registered")
    (moved / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": llama})
    )
    by_folder = generate_text(ModelCache(1), GenerationRequest(str(moved), prompt, GREEDY)).text

    assert alone == together
    assert len(set(together.values())) == 3
    assert 1 == len(shared)  # one base loaded for all three
    assert alone[1] == by_folder
