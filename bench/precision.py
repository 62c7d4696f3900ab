"""CPU bf16: trainbot in bf16 and in fp32 against an fp32 bare PyTorch loop.

Decides `trainer.precision.CPU_BF16_BY_DEFAULT`. Per round, on the same corpus, steps and
seed: a trainbot run forced to bf16 (what "auto" would pick on a CPU with native bf16 if
the switch were on), the same run in fp32, and the bare fp32 loop of
`bench/train_throughput.py` (same blocks, position ids and clipping, at the worker's
niceness). The order rotates between rounds. Prints the true median of the per-round
speed ratios with their range, and how far bf16's final eval loss is from fp32's.

    .venv/bin/python bench/precision.py [--steps 40] [--base tiny|gpt2|llama|DIR] [--rounds 5]

`gpt2` and `llama` are the tiny pretrained bases of the tests (tests/support/pretrained.py).
Goal on this EPYC (avx512_bf16): bf16 ÷ bare fp32 >= 1.4 with the eval loss within 2 %.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_throughput import at_worker_priority, bare_loop, real_path, spread, write_corpus
from trainer.spec import Hyperparameters, TrainSpec

PATHS = ("bf16", "fp32", "bare")


def resolve_base(name: str, tmp: str) -> str:
    """A preset name or folder as given; `gpt2`/`llama` build the tests' tiny pretrained base."""
    if name not in ("gpt2", "llama"):
        return name
    from tests.support.pretrained import build_base

    return str(build_base(Path(tmp), name))


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--base", default="tiny")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()

    from trainer.precision import CPU_BF16_BY_DEFAULT, choose, cpu_has_native_bf16

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus.jsonl"
        write_corpus(data, args.examples)
        base = resolve_base(args.base, tmp)
        hp = Hyperparameters(max_steps=args.steps, eval_every=args.steps, save_every=args.steps)
        speed: dict[str, list[float]] = {name: [] for name in PATHS}
        loss_gap: list[float] = []
        for round_ in range(args.rounds):
            # The bare loop of a preset reads the tokenizer of round 0's first run.
            order = list(PATHS[round_ % 3 :] + PATHS[: round_ % 3]) if round_ else list(PATHS)
            losses: dict[str, float] = {}
            for name in order:
                spec = TrainSpec(
                    dataset_path=str(data),
                    output_dir=f"{tmp}/{name}-{round_}",
                    checkpoint_dir=f"{tmp}/ckpt-{name}{round_}",
                    base=base,
                    hyperparameters=hp,
                    device="cpu",
                    precision="fp32" if name == "bare" else name,
                )
                if name == "bare":
                    model_dir = base if Path(base).is_dir() else f"{tmp}/bf16-0"
                    speed[name].append(at_worker_priority(bare_loop, spec, model_dir, args.steps))
                    continue
                metrics = asyncio.run(real_path(spec))
                speed[name].append(metrics["tokens_per_s"])
                losses[name] = metrics["eval_loss"]
            loss_gap.append(abs(losses["bf16"] - losses["fp32"]) / losses["fp32"])
            print(
                f"round {round_ + 1}: trainbot bf16 {speed['bf16'][-1]:.0f} tok/s, trainbot fp32"
                f" {speed['fp32'][-1]:.0f} tok/s, bare fp32 {speed['bare'][-1]:.0f} tok/s;"
                f" eval loss bf16 {losses['bf16']:.4f} vs fp32 {losses['fp32']:.4f}",
                flush=True,
            )
    ratio = {
        name: [a / b for a, b in zip(speed[name], speed["bare"], strict=True)]
        for name in ("bf16", "fp32")
    }
    bf16_vs_fp32 = [a / b for a, b in zip(speed["bf16"], speed["fp32"], strict=True)]
    print(f"base={args.base} steps={args.steps} batch={hp.batch_size} block={hp.block_size}")
    print(
        f"native bf16 on this CPU: {cpu_has_native_bf16()}; CPU_BF16_BY_DEFAULT="
        f"{CPU_BF16_BY_DEFAULT}; 'auto' picks {choose('cpu', 'auto', 0).precision} today"
    )
    print(f"trainbot bf16 / bare fp32   : {spread(ratio['bf16'])}   (goal >= 1.4)")
    print(f"trainbot fp32 / bare fp32   : {spread(ratio['fp32'])}")
    print(f"trainbot bf16 / trainbot fp32: {spread(bf16_vs_fp32)}")
    print(
        f"eval loss gap bf16 to fp32: median {statistics.median(loss_gap):.2%},"
        f" max {max(loss_gap):.2%}   (goal <= 2 %)"
    )


if __name__ == "__main__":
    main()
