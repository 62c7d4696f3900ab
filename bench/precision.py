"""Precision: trainbot's default precision against an fp32 bare PyTorch loop.

Per round, on the same corpus, steps and seed: a trainbot run with its default precision
(bf16 autocast on a CPU with native bf16, else fp32), the same run forced to fp32 (for
the eval loss only), and the bare fp32 loop of `bench/train_throughput.py` (for speed).
The order rotates between rounds. Prints the true median of the per-round speed ratios
with their range, and how far the default's final eval loss is from fp32's.

    .venv/bin/python bench/precision.py [--steps 60] [--base tiny] [--rounds 3]

Goal on this EPYC (avx512_bf16): ratio >= 1.4 with the eval loss within 2 % of fp32.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_throughput import bare_loop, real_path, spread, write_corpus
from trainer.spec import Hyperparameters, TrainSpec


def main() -> None:
    """Run the rounds and print the figures."""
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
        speed: list[float] = []
        loss_gap: list[float] = []
        chosen = "?"
        for round_ in range(args.rounds):
            spec = TrainSpec(
                dataset_path=str(data),
                output_dir=f"{tmp}/default{round_}",
                checkpoint_dir=f"{tmp}/ckpt-default{round_}",
                base=args.base,
                hyperparameters=hp,
                device="cpu",
            )
            fp32_spec = dataclasses.replace(
                spec,
                output_dir=f"{tmp}/fp32-{round_}",
                checkpoint_dir=f"{tmp}/ckpt-fp32-{round_}",
                precision="fp32",
            )
            runs = {}
            order = ["default", "fp32", "bare"]
            order = order[round_ % 3 :] + order[: round_ % 3]
            if round_ == 0:  # the bare loop reads the tokenizer of a finished run
                order = ["default", "fp32", "bare"]
            for name in order:
                if name == "bare":
                    runs[name] = {"tokens_per_s": bare_loop(spec, f"{tmp}/default0", args.steps)}
                else:
                    runs[name] = asyncio.run(real_path(spec if name == "default" else fp32_spec))
            chosen = str(runs["default"].get("precision"))
            speed.append(runs["default"]["tokens_per_s"] / runs["bare"]["tokens_per_s"])
            default_loss, fp32_loss = runs["default"]["eval_loss"], runs["fp32"]["eval_loss"]
            loss_gap.append(abs(default_loss - fp32_loss) / fp32_loss)
            print(
                f"round {round_ + 1}: default ({chosen}) {runs['default']['tokens_per_s']:.0f}"
                f" tok/s, fp32 trainbot {runs['fp32']['tokens_per_s']:.0f} tok/s,"
                f" bare fp32 {runs['bare']['tokens_per_s']:.0f} tok/s;"
                f" eval loss {default_loss:.4f} vs fp32 {fp32_loss:.4f}",
                flush=True,
            )
    print(f"base={args.base} steps={args.steps} batch={hp.batch_size} block={hp.block_size}")
    print(f"default precision: {chosen}")
    print(f"default / bare fp32 tokens/s: {spread(speed)}   (goal >= 1.4 with native bf16)")
    print(
        f"eval loss gap to fp32: median {statistics.median(loss_gap):.2%},"
        f" max {max(loss_gap):.2%}   (goal <= 2 %)"
    )


if __name__ == "__main__":
    main()
