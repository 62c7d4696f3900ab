"""Training throughput: the real trainbot path against a bare PyTorch loop.

Trains the `tiny` preset for a fixed number of steps through the real path (worker
process, HF Trainer with trainbot callbacks, packed blocks), then runs a bare loop on the
same model shape, the same packed blocks, batch size and precision (the one trainbot
chose) and the same position ids restarting per packed example (trainbot keeps packed
examples apart by them where the model honours it), with AdamW and the same gradient
clipping, in a child at the worker's niceness. Prints tokens/s of
both, the true median of the per-round ratios with their spread, and the share of fed
tokens that are real data (not padding).

    .venv/bin/python bench/train_throughput.py [--steps 60] [--base tiny] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rounds import interleaved, ratios, spread
from trainer.spec import Hyperparameters, TrainSpec
from trainer.workers.pool import TrainingPool

_WORD_LIST = (
    "the a river mountain quiet city walks under bright old small green light house boat "
    "garden window morning evening rain wind stone bridge road forest child teacher "
    "writes reads sings carries finds opens closes watches remembers forgets"
)
WORDS = tuple(_WORD_LIST.split())


def write_corpus(path: Path, examples: int, seed: int = 0) -> None:
    """Random sentences: enough text for hundreds of blocks, so padding stays rare."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(examples):
            sentences = [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))) + "." for _ in "xyz"]
            f.write(json.dumps({"text": " ".join(sentences)}) + "\n")


async def real_path(spec: TrainSpec) -> dict[str, float]:
    """Train through the worker pool; return the completed metrics."""
    pool = TrainingPool(max_concurrent=1)
    run = await pool.start(spec)
    final = await run.wait()
    await pool.shutdown()
    if final["event"] != "completed":
        raise SystemExit(f"training did not complete: {final}")
    metrics: dict[str, float] = final["metrics"]
    return metrics


def bare_loop(spec: TrainSpec, model_dir: str, steps: int, precision: str = "fp32") -> float:
    """Tokens/s of a plain PyTorch loop over the same packed blocks.

    `precision` "bf16" runs the forward pass under CPU bf16 autocast, as the Trainer does.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from trainer.data import load_dataset, split_examples
    from trainer.models import separates_packed
    from trainer.packing import pack, tokenize_examples

    hp = spec.hyperparameters
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    report = load_dataset(spec.dataset_path, spec.data)
    train, _ = split_examples(report.examples, hp.val_fraction, hp.seed)
    eos = int(tokenizer.eos_token_id)
    blocks = pack(tokenize_examples(train, tokenizer), hp.block_size, eos, eos)
    ids, labels = torch.tensor(blocks.input_ids), torch.tensor(blocks.labels)
    positions = torch.tensor(blocks.position_ids)
    torch.manual_seed(hp.seed)
    config = AutoConfig.from_pretrained(model_dir)
    config.use_cache = False  # as in training
    model = AutoModelForCausalLM.from_config(config)  # same shape, fresh weights
    separate = separates_packed(model)  # as trainbot decides for this model
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay
    )
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(hp.seed))
    began = time.perf_counter()
    for step in range(steps):
        start = step * hp.batch_size % max(1, len(ids) - hp.batch_size)
        batch = order[start : start + hp.batch_size]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            extra = {"position_ids": positions[batch]} if separate else {}
            loss = model(input_ids=ids[batch], labels=labels[batch], **extra).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - began
    return steps * hp.batch_size * hp.block_size / seconds


def at_worker_priority(function: Callable[..., float], *args: object) -> float:
    """`function(*args)` in a fresh child at the training worker's niceness (10), so a busy
    machine slows a bare loop and trainbot's worker alike instead of favouring the loop."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=os.nice, initargs=(10,)) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    """Run both paths `rounds` times (alternating which goes first) and print the figures.

    The machine may be shared, so each round's ratio compares two measurements taken
    close together, and the median ratio is the headline.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--base", default="tiny")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=4000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus.jsonl"
        write_corpus(data, args.examples)
        hp = Hyperparameters(max_steps=args.steps, eval_every=args.steps, save_every=args.steps)
        seen = {"useful": 0.0, "precision": "fp32"}  # from trainbot's runs, for the bare loop

        def spec(round_: int) -> TrainSpec:
            return TrainSpec(
                dataset_path=str(data),
                output_dir=f"{tmp}/model{round_ % 2}",
                checkpoint_dir=f"{tmp}/ckpt{round_}",
                base=args.base,
                hyperparameters=hp,
                device="cpu",
            )

        def trainbot(round_: int) -> float:
            metrics = asyncio.run(real_path(spec(round_)))
            seen["useful"] = metrics["useful_token_fraction"]
            seen["precision"] = str(metrics.get("precision", "fp32"))
            return float(metrics["tokens_per_s"])

        def bare(round_: int) -> float:
            # Round 0's trainbot run goes first: the bare loop reads its tokenizer and precision.
            model_dir, precision = f"{tmp}/model0", str(seen["precision"])
            return at_worker_priority(bare_loop, spec(round_), model_dir, args.steps, precision)

        speed = interleaved(args.rounds, {"trainbot": trainbot, "bare": bare}, " tok/s")
    print(f"base={args.base} steps={args.steps} batch={hp.batch_size} block={hp.block_size}")
    print(f"precision     : {seen['precision']} (both paths: trainbot's default)")
    print(
        f"trainbot path : {statistics.median(speed['trainbot']):10.0f} tokens/s (median of rounds)"
    )
    print(f"bare PyTorch  : {statistics.median(speed['bare']):10.0f} tokens/s (median of rounds)")
    print(f"ratio         : {spread(ratios(speed['trainbot'], speed['bare']))}   (goal >= 0.97)")
    print(f"useful tokens : {float(seen['useful']):10.4f}   (goal >= 0.99)")


if __name__ == "__main__":
    main()
