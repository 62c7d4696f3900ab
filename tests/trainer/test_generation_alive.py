"""The generation worker's silence timeout: a busy child says it is alive, a stuck one is not.

A whole answer (no stream) sends nothing until it is done, so the child sends
`(0, "alive", None)` while it works; the parent kills a child only when it hears nothing
at all for the timeout. The long answer here takes two timeouts or more to write
on whatever machine runs it (a greedy random-weight model that never picks its end token
writes the whole `max_tokens`). The
timeout is shorter than the one-second heartbeat, so the child must beat faster for it.
A child stopped before any request arrives: test_generation.py's
`test_a_request_over_the_timeout_fails_instead_of_hanging`; here it stops mid-answer.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.support.pretrained import build_base
from trainer.spec import GenerateParams, GenerationRequest
from trainer.workers.generation import GenerationError, GenerationWorker

TIMEOUT_S = 1.0  # the parent's silence timeout: the child's heartbeat is a quarter of it
WINDOW = 4096  # room for an answer of several timeouts on a fast machine too
PROBE = 100  # tokens of the answer that tells how fast this machine writes


@pytest.fixture(scope="module")
def chatty_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A two-layer GPT-2 with random weights and a long window, and a real tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(build_base(tmp_path_factory.getbasetemp(), "gpt2"))
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=WINDOW,
        n_embd=32,
        n_layer=2,
        n_head=2,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("chatty")
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def request(model_dir: str, tokens: int) -> GenerationRequest:
    return GenerationRequest(model_dir, "the cat", GenerateParams(max_tokens=tokens, temperature=0))


@pytest.mark.slow
async def test_a_busy_child_is_not_timed_out_and_a_stuck_one_is(chatty_model: str) -> None:
    worker = GenerationWorker(timeout_s=TIMEOUT_S)
    heard: list[str] = []
    beat = asyncio.Event()
    listen = worker._on_message  # what the child sends, as the parent receives it

    def record(message: object) -> None:
        assert isinstance(message, list)
        heard.extend(kind for _, kind, _ in message)
        if heard[-1] == "alive":
            beat.set()
        listen(message)

    worker._on_message = record  # type: ignore[method-assign]
    await worker.start()
    try:
        pid = worker.pid
        await worker.generate(request(chatty_model, 1))  # loads the model
        probe = await worker.generate(request(chatty_model, PROBE))
        # An answer of at least two timeouts on this machine, however fast it is (the
        # probe's prefill makes a token look slower than it is).
        long = min(WINDOW - 16, int(2.5 * TIMEOUT_S / (probe.latency_s / PROBE)))
        heard.clear()
        result = await worker.generate(request(chatty_model, long))
        # Quiet all along but for the heartbeat, longer than the timeout, and not killed.
        assert result.latency_s > TIMEOUT_S, "the answer was too quick to test the heartbeat"
        assert ("length", long) == (result.choices[0].finish_reason, result.completion_tokens)
        assert pid == worker.pid
        assert {"alive", "done"} == set(heard) and heard[-1] == "done"

        # A child stuck in the middle of an answer says nothing: it is timed out and killed.
        beat.clear()
        pending = asyncio.ensure_future(worker.generate(request(chatty_model, long)))
        await beat.wait()  # the long answer is under way
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(GenerationError, match=f"generation timed out after {TIMEOUT_S:g}s"):
            await pending
        again = await worker.generate(request(chatty_model, 1))  # a fresh child
        assert (1, True) == (again.completion_tokens, worker.pid not in (None, pid))
    finally:
        await worker.stop()
