"""Generation: the long-lived worker process, its failure modes, keyword conditioning."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from trainer.spec import GenerateParams, GenerationRequest
from trainer.workers.generation import GenerationError, GenerationWorker
from trainer.workers.generation_child import ModelCache, cut_at_stop
from trainer.workers.generation_engine import generate_text


def test_output_is_cut_at_the_first_stop_string() -> None:
    assert cut_at_stop("the cat. the dog.", (" dog", ".")) == ("the cat", True)
    assert cut_at_stop("no stop here", ("###",)) == ("no stop here", False)


def test_generation_continues_a_prompt_in_the_trained_language(trained_model_dir: str) -> None:
    request = GenerationRequest(
        trained_model_dir, "the cat sees the", GenerateParams(seed=3, max_tokens=12)
    )

    result = generate_text(ModelCache(1), request)

    assert result.text.strip()
    assert result.prompt_tokens > 0
    assert 0 < result.completion_tokens <= 12
    assert any(animal in result.text for animal in ("cat", "dog", "fox", "owl", "bee", "cow"))


def test_the_same_seed_gives_the_same_text_and_max_tokens_limits_length(
    trained_model_dir: str,
) -> None:
    cache = ModelCache(1)
    request = GenerationRequest(trained_model_dir, "the", GenerateParams(seed=5, max_tokens=6))

    first, second = generate_text(cache, request), generate_text(cache, request)

    assert first.text == second.text
    assert first.completion_tokens <= 6


def test_max_tokens_is_shortened_to_the_context_window(trained_model_dir: str) -> None:
    request = GenerationRequest(
        trained_model_dir, "the", GenerateParams(seed=5, max_tokens=4096, temperature=0)
    )

    result = generate_text(ModelCache(1), request)

    assert 0 < result.prompt_tokens + result.completion_tokens <= 128  # the micro window


def test_the_cache_keeps_the_most_recently_used_models(
    trained_model_dir: str, tmp_path: Path
) -> None:
    import shutil

    copies = [shutil.copytree(trained_model_dir, tmp_path / f"m{i}") for i in range(3)]
    cache = ModelCache(2)

    loaded = [cache.get(str(path)) for path in copies]
    again = cache.get(str(copies[2]))

    assert len(cache) == 2
    assert again[0] is loaded[2][0]


@pytest.mark.slow
async def test_the_worker_serves_requests_and_survives_a_killed_process(
    trained_model_dir: str,
) -> None:
    worker = GenerationWorker(cached_models=2, timeout_s=60)
    await worker.start()
    try:
        first_pid = worker.pid
        assert first_pid is not None
        request = GenerationRequest(
            trained_model_dir, "the dog", GenerateParams(seed=1, max_tokens=8)
        )
        os.kill(first_pid, signal.SIGSTOP)  # frozen: the request stays in flight
        pending = asyncio.ensure_future(worker.generate(request))
        await asyncio.sleep(0.2)
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(GenerationError, match="SIGKILL"):
            await asyncio.wait_for(pending, timeout=10)

        result = await worker.generate(request)  # a fresh worker takes over
        assert worker.pid != first_pid
        assert result.text and result.completion_tokens <= 8 and result.latency_s > 0
    finally:
        await worker.stop()


@pytest.mark.slow
async def test_a_request_over_the_timeout_fails_instead_of_hanging(trained_model_dir: str) -> None:
    worker = GenerationWorker(timeout_s=0.5)
    await worker.start()
    try:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGSTOP)  # a worker stuck on a request: it never answers
        with pytest.raises(GenerationError, match="timed out"):
            await worker.generate(GenerationRequest(trained_model_dir, "the"))
    finally:
        await worker.stop()


@pytest.mark.slow
async def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    worker = GenerationWorker(timeout_s=60)
    try:
        with pytest.raises(GenerationError, match="no model in"):
            await worker.generate(GenerationRequest(str(tmp_path / "nothing"), "hi"))
    finally:
        await worker.stop()


@pytest.mark.slow
def test_keyword_conditioning_puts_the_requested_keywords_into_the_text(
    tmp_path: Path,
    micro_spec: Any,
    train_in_process: Any,
    write_keyword_corpus: Any,
    keyword_vocabulary: tuple[str, ...],
) -> None:
    data = write_keyword_corpus(tmp_path / "keywords.jsonl")
    spec = micro_spec(
        tmp_path,
        data,
        max_steps=300,
        block_size=32,
        learning_rate=1e-2,
        eval_every=300,
        save_every=300,
    )
    train_in_process(spec)
    cache = ModelCache(1)

    def hit_rate(conditioned: bool) -> float:
        hits = 0
        for keyword in keyword_vocabulary:
            for seed in range(3):
                params = GenerateParams(
                    seed=seed, max_tokens=16, keywords=(keyword,) if conditioned else ()
                )
                request = GenerationRequest(spec.output_dir, "", params)
                hits += keyword in generate_text(cache, request).text
        return hits / (3 * len(keyword_vocabulary))

    with_keywords, without = hit_rate(True), hit_rate(False)

    assert with_keywords >= 0.6
    assert with_keywords > without + 0.3


@pytest.mark.slow
async def test_concurrent_requests_are_batched_with_lone_answers_and_leaving_a_stream_cancels(
    trained_model_dir: str,
) -> None:
    greedy = GenerateParams(temperature=0, max_tokens=16, repetition_penalty=1.0)
    prompts = ("the cat", "the owl finds the", "a", "the dog likes the bee. the")
    requests = [GenerationRequest(trained_model_dir, p, greedy) for p in prompts]
    cache = ModelCache(1)
    alone = [generate_text(cache, r).text for r in requests]
    worker = GenerationWorker(timeout_s=60)
    try:
        together = await asyncio.gather(*(worker.generate(r) for r in requests))

        long = GenerationRequest(
            trained_model_dir, "the", GenerateParams(temperature=0, max_tokens=120)
        )
        stream = worker.stream(long)
        first = await anext(stream)
        busy = await worker.active_sequences()
        await stream.aclose()  # the client is gone
        after = await worker.active_sequences()
    finally:
        await worker.stop()

    assert alone == [r.text for r in together]
    assert all(r.latency_s > 0 for r in together)
    assert first.index == 0  # type: ignore[union-attr]
    assert (1, 0) == (busy, after)
