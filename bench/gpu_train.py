"""GPU training speed: the GPT-2-124M-shaped preset through trainbot, bf16, compile on/off.

Trains the `small` preset (12 layers, 12 heads, width 768, context 1024: GPT-2 124M's
shape with trainbot's 8k vocabulary) on a generated corpus through the real path
(`trainer.train.run_training`: packed blocks, HF Trainer, trainbot's precision switches)
with `torch.compile` off and on, alternating over rounds, and prints tokens/s and
model-FLOPs utilisation (nanoGPT's count: 6 x parameters + 12 x layers x width x context
FLOPs per token, against the GPU's dense bf16 peak).

    .venv/bin/python bench/gpu_train.py [--steps 60] [--rounds 3] [--batch 16] [--peak-tflops 989]

Needs CUDA (989 TFLOPS is the H100/H200 SXM dense bf16 peak); `--device cpu --steps 3
--rounds 1 --batch 2 --block 64 --compile off` runs the same code on a CPU as a smoke test.
Goal: >= 40 % MFU on one H100/H200 (about 450k tokens/s).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_throughput import spread, write_corpus
from trainer.spec import Hyperparameters, TrainSpec


def train_once(spec: TrainSpec) -> dict[str, Any]:
    """One run in this process; the completed event's metrics (tokens/s after warm-up)."""
    from trainer.callbacks import Control
    from trainer.train import run_training

    events: list[dict[str, Any]] = []
    final = run_training(
        spec, lambda e: events.append(dict(e)), Control(threading.Event(), threading.Event())
    )
    if final["event"] != "completed":
        raise SystemExit(f"training did not complete: {final}")
    for event in events:
        if event["event"] == "log":
            print("   ", event["message"], flush=True)
    return dict(final["metrics"])


def flops_per_token(model_dir: str, block: int) -> float:
    """nanoGPT's estimate: 6N for the weights plus attention over the block."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with __import__("torch").device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    parameters = sum(p.numel() for p in model.parameters())
    return 6 * parameters + 12 * config.n_layer * config.n_embd * block


def main() -> None:
    """Alternate compile off/on over the rounds; print tokens/s and MFU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--compile", choices=("both", "off", "on"), default="both")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus.jsonl"
        write_corpus(data, args.examples)
        hp = Hyperparameters(
            max_steps=args.steps,
            eval_every=args.steps,
            save_every=args.steps,
            batch_size=args.batch,
            block_size=args.block,
            learning_rate=6e-4,
        )
        base = TrainSpec(
            dataset_path=str(data),
            output_dir=f"{tmp}/model",
            checkpoint_dir=f"{tmp}/ckpt",
            base="small",
            hyperparameters=hp,
            device=args.device,
            precision=args.precision,
        )
        modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.compile]
        speed: dict[bool, list[float]] = {mode: [] for mode in modes}
        flops = 0.0
        for round_ in range(args.rounds):
            for compiled in modes if round_ % 2 == 0 else modes[::-1]:
                spec = dataclasses.replace(
                    base,
                    compile=compiled,
                    output_dir=f"{tmp}/model-{round_}-{compiled}",
                    checkpoint_dir=f"{tmp}/ckpt-{round_}-{compiled}",
                )
                metrics = train_once(spec)
                flops = flops or flops_per_token(spec.output_dir, args.block)
                speed[compiled].append(metrics["tokens_per_s"])
                mfu = metrics["tokens_per_s"] * flops / (args.peak_tflops * 1e12)
                print(
                    f"round {round_ + 1} compile={compiled}: {metrics['tokens_per_s']:.0f} tok/s,"
                    f" MFU {mfu:.1%}, precision {metrics.get('precision')},"
                    f" eval loss {metrics['eval_loss']:.3f}",
                    flush=True,
                )
    print(f"small preset, batch {args.batch} x block {args.block}, {args.steps} steps/run")
    for compiled, values in speed.items():
        mfu = [v * flops / (args.peak_tflops * 1e12) for v in values]
        print(
            f"compile={compiled!s:5}: tokens/s {spread(values)};"
            f" MFU median {statistics.median(mfu):.1%}   (goal >= 40 %)"
        )


if __name__ == "__main__":
    main()
