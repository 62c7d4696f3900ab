"""Serving: batching, time to first token and warm latency through the generation core.

Everything goes through `GenerationService` (a real store in a temporary data dir, a
registered model, the generation worker process) and is compared, in the same run, with
a bare `model.generate` on the same model in this process, with the worker's thread
count and device. Three ratios, each over `--rounds` rounds (true median and spread):

- batching: 8 concurrent 64-token answers, total tokens/s ÷ the same 8 one after another
  (goal >= 3);
- first token: time to the first streamed piece ÷ bare `generate(max_new_tokens=1)`
  (goal <= 1.5);
- latency: a warm 64-token answer end to end ÷ bare `generate(max_new_tokens=64)`
  (goal <= 1.15).

    .venv/bin/python bench/serving.py [--preset tiny] [--rounds 3] [--tokens 64]

The model is the preset trained for 30 steps (what it says does not matter, only its
shape, but it must write characters); answers are greedy and forbidden to end early
in the bare path; the service's answers are checked to be exactly `--tokens` long.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

from bench._rounds import by_name, spread
from bot.core.generation import GenerationService
from bot.core.models import ModelService
from storage.store import Store
from trainer.spec import GenerateParams, Piece
from trainer.workers.generation import GenerationWorker

CONCURRENT = 8
ANIMALS = ("cat", "dog", "fox", "owl", "bee", "cow", "hen", "pig")
PROMPTS = tuple(
    f"the {a} sees the {b}. the" for a, b in zip(ANIMALS, ANIMALS[1:] + ANIMALS[:1], strict=True)
)
GOALS = {"batching": (">=", 3.0), "first token": ("<=", 1.5), "latency": ("<=", 1.15)}


def build_model(preset: str, folder: Path) -> None:
    """Train the preset for a few steps on short stories, so that it writes words.

    Fresh weights write bytes that make no character, which a stream holds back; a few
    steps of training are enough for answers of plain text (what is measured is speed).
    """
    import json
    import threading

    from trainer.callbacks import Control
    from trainer.spec import Hyperparameters, TrainSpec
    from trainer.train import run_training

    data = folder.parent / "stories.jsonl"
    # Long examples: end-of-text is rare in training, so greedy answers run to the limit.
    story = " ".join(f"the {a} sees the {b}." for a in ANIMALS for b in ANIMALS)
    data.write_text("".join(json.dumps({"text": story}) + "\n" for _ in range(20)))
    spec = TrainSpec(
        dataset_path=str(data),
        output_dir=str(folder),
        checkpoint_dir=str(folder.parent / "checkpoints"),
        base=preset,
        hyperparameters=Hyperparameters(
            max_steps=30,
            batch_size=8,
            block_size=64,
            learning_rate=3e-3,
            eval_every=30,
            save_every=30,
        ),
        device="cpu",
    )
    run_training(spec, lambda _event: None, Control(threading.Event(), threading.Event()))


class Bare:
    """`model.generate` in this process, as the worker would run it."""

    def __init__(self, folder: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the worker's threads
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        if torch.cuda.is_available():
            self.model.to("cuda")
        self.eos = self.tokenizer.eos_token_id

    def seconds(self, prompt: str, tokens: int) -> float:
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.model.device)
        began = time.perf_counter()
        with self.torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=self.torch.ones_like(ids),
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                pad_token_id=self.eos,
            )
        if self.torch.cuda.is_available():
            self.torch.cuda.synchronize()
        assert out.shape[1] - ids.shape[1] == tokens
        return time.perf_counter() - began


async def one_round(service: GenerationService, bare: Bare, tokens: int) -> dict[str, float]:
    params = GenerateParams(max_tokens=tokens, temperature=0, repetition_penalty=1.0)

    async def ask(prompt: str) -> int:
        done = await service.generate(prompt, model="bench", params=params, requested_by="b")
        assert done.completion_tokens == tokens, done.completion_tokens
        return done.completion_tokens

    began = time.perf_counter()
    written = 0
    for prompt in PROMPTS:
        written += await ask(prompt)
    sequential = written / (time.perf_counter() - began)
    began = time.perf_counter()
    written = sum(await asyncio.gather(*(ask(p) for p in PROMPTS)))
    concurrent = written / (time.perf_counter() - began)

    began = time.perf_counter()
    stream = service.stream(PROMPTS[0], model="bench", params=params, requested_by="b")
    async for event in stream:
        if isinstance(event, Piece) and event.text:
            first = time.perf_counter() - began
            break
    await stream.aclose()  # type: ignore[attr-defined]
    bare_first = statistics.median(bare.seconds(PROMPTS[0], 1) for _ in range(3))

    latencies = []
    for _ in range(3):
        began = time.perf_counter()
        await ask(PROMPTS[1])
        latencies.append(time.perf_counter() - began)
    bare_latency = statistics.median(bare.seconds(PROMPTS[1], tokens) for _ in range(3))
    return {
        "batching": concurrent / sequential,
        "first token": first / bare_first,
        "latency": statistics.median(latencies) / bare_latency,
        "sequential tok/s": sequential,
        "concurrent tok/s": concurrent,
        "first token ms": first * 1000,
        "bare first token ms": bare_first * 1000,
        "latency ms": statistics.median(latencies) * 1000,
        "bare latency ms": bare_latency * 1000,
    }


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="trainbot-serving-") as tmp:
        folder = Path(tmp) / "model"
        build_model(args.preset, folder)
        bare = Bare(str(folder))
        store = await Store.open(Path(tmp) / "data")
        models = ModelService(store)
        await models.register_local(
            name="bench",
            job_id="",
            dataset_id="",
            base=args.preset,
            output_dir=Path(shutil.copytree(folder, Path(tmp) / "registered")),
            metrics={},
        )
        worker = GenerationWorker(cached_models=1, timeout_s=600)
        service = GenerationService(store, models, worker, max_concurrent=64, max_new_tokens=4096)
        try:
            await one_round(service, bare, args.tokens)  # warm: loads, first forward passes
            rounds = []
            for n in range(args.rounds):
                rounds.append(await one_round(service, bare, args.tokens))
                shown = ", ".join(f"{name} {value:.2f}" for name, value in rounds[-1].items())
                print(f"round {n + 1}: {shown}", flush=True)
        finally:
            await worker.stop()
            await store.close()
    print(f"preset={args.preset} tokens={args.tokens} rounds={args.rounds} cpus={os.cpu_count()}")
    failed = False
    for name, values in by_name(rounds).items():
        line = f"{name:>20}: median {spread(values, 2)}"
        if name in GOALS:
            sign, goal = GOALS[name]
            median = statistics.median(values)
            ok = median >= goal if sign == ">=" else median <= goal
            failed |= not ok
            line += f"  goal {sign} {goal}  {'ok' if ok else 'MISSED'}"
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    sys.exit(asyncio.run(main(parser.parse_args())))
