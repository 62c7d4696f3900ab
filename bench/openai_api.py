"""The OpenAI-compatible API against a bare `model.generate`, and 8 concurrent requests.

A child process runs the real App (fresh SQLite data dir, HTTP on 127.0.0.1) and trains
one small model on a CPU preset; this process is the client, and it also loads the same
model folder with transformers for the bare baseline. Every ratio is measured in this
run, in rounds, and reported as the median of the rounds' medians with their spread:

- warm `POST /openai/v1/chat/completions` latency ÷ bare `model.generate` of the same
  prompt tokens and the same number of new tokens (goal ≤ 1.15);
- time to the first streamed token ÷ bare `generate` of one token (goal ≤ 1.5);
- 8 concurrent chat completions (64 tokens each): total tokens/s ÷ the same 8 one after
  another (goal ≥ 3). Eight different prompts, greedy, so that every answer really is 64
  tokens long (checked and printed); the same with sampling (temperature 0.8) is printed
  too, for information: sampled answers end at the model's end-of-text token at 4 to 64
  tokens, and a batch whose rows finish early measures the answers' lengths, not the
  batching (8 answers of 4–64 tokens take as long together as the longest alone).

    .venv/bin/python bench/openai_api.py [--base tiny] [--rounds 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

from bench._rounds import spread  # after the path above: this checkout

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MESSAGES = [{"role": "user", "content": "the cat sat on the mat and then"}]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "sun"]


# ---- server side (child process) -------------------------------------------------------


def serve(conn: Connection, data_dir: str, base: str, steps: int) -> None:
    """Child: run the App, train one model, report its id and folder, stop when told."""
    asyncio.run(_serve(conn, Path(data_dir), base, steps))


async def _serve(conn: Connection, data_dir: Path, base: str, steps: int) -> None:
    import random

    from bot.app import App
    from bot.core.jobs.request import JobRequest
    from bot.http.openai.ids import model_id
    from bot.logs import configure_logging
    from bot.settings import Settings

    configure_logging("WARNING")
    settings = Settings(
        storage={"data_dir": str(data_dir)},
        matrix={"enabled": False},
        http={
            "enabled": True,
            "port": 0,
            "tokens": [TOKEN],
            "max_concurrent_generations": 8,
        },
        trainer={"default_base": base, "max_new_tokens": 256},
    )
    app = App(settings)
    await app.start()
    assert app.http is not None
    services = app.services
    rng = random.Random(0)
    # Plain text, so the model keeps writing: latency is compared at a fixed length.
    rows = [{"text": " ".join(rng.choice(WORDS) for _ in range(60))} for _ in range(40)]
    await services.datasets.upload_records("bench", rows)
    hyper = {"max_steps": steps, "eval_every": steps, "save_every": steps}
    job = await services.jobs.submit(
        JobRequest(dataset="bench", base=base, hyperparameters=hyper), requested_by="bench"
    )
    for _ in range(7200):  # an hour at most
        job = await services.jobs.get(job.id)
        if job.status.final:
            break
        await asyncio.sleep(0.5)
    assert job.model_id is not None, job.error
    model = await services.models.resolve(job.model_id)
    conn.send({"url": app.http.url, "model": model_id(model), "path": model.path})
    await asyncio.to_thread(conn.recv)  # the stop message
    await app.stop()


# ---- client side -----------------------------------------------------------------------


class Bare:
    """The same model folder in this process: greedy `generate` with a fixed length."""

    def __init__(self, path: str, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from trainer.data.formats import chat_prompt

        if threads > 0:
            torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                MESSAGES, tokenize=False, add_generation_prompt=True
            )
        else:
            text = chat_prompt(MESSAGES)
        self.ids = self.tokenizer(text, return_tensors="pt").input_ids

    def generate_s(self, new_tokens: int) -> float:
        """Seconds for one greedy generation of exactly `new_tokens` tokens."""
        began = time.perf_counter()
        with self.torch.inference_mode():
            self.model.generate(
                self.ids,
                attention_mask=self.torch.ones_like(self.ids),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id or 0,
            )
        return time.perf_counter() - began


def chat_body(model: str, max_tokens: int, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model,
        "messages": MESSAGES,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }


async def chat(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(f"{url}/openai/v1/chat/completions", json=body, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def first_token_s(session: aiohttp.ClientSession, url: str, model: str) -> float:
    """Seconds from sending a streamed chat to its first chunk with text."""
    began = time.perf_counter()
    body = chat_body(model, 64, stream=True)
    async with session.post(f"{url}/openai/v1/chat/completions", json=body, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        async for raw in r.content:
            line = raw.decode().strip()
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                return time.perf_counter() - began
    raise AssertionError("the stream carried no text")


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await call()
    return time.perf_counter() - began


def report(name: str, rounds: list[float], goal: str) -> None:
    print(f"  {name}: median {spread(rounds)} goal {goal}")


async def client(info: dict[str, str], args: argparse.Namespace) -> None:
    url, model = info["url"], info["model"]
    bare = Bare(info["path"], args.threads)
    async with aiohttp.ClientSession() as session:
        probe = await chat(session, url, chat_body(model, 64))  # warm: model loaded
        length = probe["usage"]["completion_tokens"]
        prompt_tokens = probe["usage"]["prompt_tokens"]
        print(
            f"model {model} ({args.base}); prompt {prompt_tokens} tokens "
            f"(bare: {bare.ids.shape[1]}), answer {length} tokens"
        )
        bare.generate_s(length)  # warm
        latency, ttft, concurrency, sampled = [], [], [], []
        lengths: dict[str, list[int]] = {"greedy": [], "sampled": []}
        absolute: dict[str, list[float]] = {"served": [], "bare": [], "ttft": [], "bare1": []}
        for _ in range(args.rounds):
            # Served and bare alternate request by request, so load from elsewhere on the
            # machine hits both alike.
            served, plain, streamed, one = [], [], [], []
            for _ in range(args.repeats):
                served.append(await timed(lambda: chat(session, url, chat_body(model, length))))
                plain.append(bare.generate_s(length))
                streamed.append(await first_token_s(session, url, model))
                one.append(bare.generate_s(1))
            latency.append(statistics.median(served) / statistics.median(plain))
            absolute["served"].append(statistics.median(served))
            absolute["bare"].append(statistics.median(plain))
            ttft.append(statistics.median(streamed) / statistics.median(one))
            absolute["ttft"].append(statistics.median(streamed))
            absolute["bare1"].append(statistics.median(one))
            ratio, lengths["greedy"] = await _concurrent_ratio(session, url, model, 0.0)
            concurrency.append(ratio)
            ratio, lengths["sampled"] = await _concurrent_ratio(session, url, model, 0.8)
            sampled.append(ratio)
        print(f"{args.rounds} rounds x {args.repeats} requests (ratios of medians)")
        report("warm chat latency / bare generate", latency, "<= 1.15")
        report("first streamed token / bare first token", ttft, "<= 1.5")
        report("8 concurrent / sequential tokens/s (64 tokens each)", concurrency, ">= 3")
        print(f"    answer lengths, last round: {lengths['greedy']}")
        report("  the same, sampled at temperature 0.8 (for information)", sampled, "-")
        print(f"    answer lengths, last round: {lengths['sampled']}")
        ms = {k: ", ".join(f"{v * 1000:.0f}" for v in vs) for k, vs in absolute.items()}
        print(f"  ms per round: chat {ms['served']} | bare generate {ms['bare']}")
        print(f"  ms per round: first token {ms['ttft']} | bare one token {ms['bare1']}")


async def _concurrent_ratio(
    session: aiohttp.ClientSession, url: str, model: str, temperature: float
) -> tuple[float, list[int]]:
    """8 requests together ÷ one after another, in tokens/s, and the answers' lengths."""
    bodies = [
        chat_body(model, 64) | {"messages": _prompt(i), "seed": i, "temperature": temperature}
        for i in range(8)
    ]
    began = time.perf_counter()
    one_by_one = [await chat(session, url, body) for body in bodies]
    sequential_s = time.perf_counter() - began
    began = time.perf_counter()
    together = await asyncio.gather(*(chat(session, url, body) for body in bodies))
    concurrent_s = time.perf_counter() - began
    tokens_seq = sum(a["usage"]["completion_tokens"] for a in one_by_one)
    tokens_con = sum(a["usage"]["completion_tokens"] for a in together)
    lengths = [int(a["usage"]["completion_tokens"]) for a in together]
    return (tokens_con / concurrent_s) / (tokens_seq / sequential_s), lengths


def _prompt(i: int) -> list[dict[str, str]]:
    """The i-th of eight different user messages (rotations of the bench's words)."""
    words = WORDS[i:] + WORDS[:i]
    return [{"role": "user", "content": " ".join(words[:8])}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="tiny", help="preset to fine-tune (tiny, micro)")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="requests per round and kind")
    # The generation worker runs on half the cores (trainer/workers/generation.py): the
    # bare baseline gets as many, or it measures thread contention instead of overhead.
    threads = max(1, (os.cpu_count() or 1) // 2)
    parser.add_argument("--threads", type=int, default=threads, help="torch threads for bare")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    with tempfile.TemporaryDirectory() as data_dir:
        server = context.Process(target=serve, args=(child, data_dir, args.base, args.steps))
        server.start()
        try:
            info = parent.recv()
            asyncio.run(client(info, args))
        finally:
            parent.send({"do": "stop"})
            server.join(60)
            if server.is_alive():
                server.kill()


if __name__ == "__main__":
    main()
