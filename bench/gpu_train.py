"""GPU training speed: every switch of issue 13's fast path, measured through trainbot.

One script, run once on a GPU machine. It builds a base folder of the `small` preset's
shape (GPT-2 124M: 12 layers, 12 heads, width 768, context 1024, trainbot's 8k vocabulary)
and trains it through the real path (`trainer.train.run_training`: packed blocks, HF
Trainer, trainbot's precision switches) once per variant per round, the order rotating:

    baseline         what "auto" picks: bf16 (fp16 where unsupported), TF32, SDPA,
                     fused AdamW, full fine-tuning, no compile
    fp16, fp32       the other precisions (fp32 keeps TF32)
    no-tf32          TF32 matmuls off
    unfused-adamw    the plain AdamW loop instead of the fused kernel
    eager-attention  the model's own attention instead of SDPA
    flash-attention  flash_attention_2 (needs the flash_attn package)
    unseparated      packed examples may attend to each other: plain causal attention,
                     which lets SDPA use its flash kernel (what separating costs)
    compile          torch.compile on
    lora             a LoRA adapter (r=16, every linear layer) instead of full weights
    qlora            LoRA on the base loaded in 4 bits (needs bitsandbytes)

It prints steady tokens/s (after `--warmup` steps, so compile's first steps do not
count), model-FLOPs utilisation (nanoGPT's count: 6 x parameters + 12 x layers x width x
context FLOPs per token, against `--peak-tflops`, the dense bf16 peak: 989 for an H100/H200
SXM) and each variant's ratio to the baseline (true median over rounds, with the range).

    .venv/bin/python bench/gpu_train.py [--steps 40] [--rounds 3] [--batch 16] [--variants a,b]

Needs CUDA. `--device cpu --shape micro --steps 3 --warmup 1 --rounds 1 --batch 2
--block 64 --examples 400 --variants baseline,fp32,lora` runs the same code on a CPU as a
smoke test (a minute; the default 20,000 examples make each evaluation long on a CPU).
Goal: baseline >= 40 % MFU on one H100/H200 (about 450k tokens/s).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rounds import spread
from bench.train_throughput import write_corpus
from trainer.methods import parse_method
from trainer.spec import Hyperparameters, TrainSpec

# name -> (spec changes, switch changes, attention implementation, separate packed, needs)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, bool], str | None, bool, str | None]] = {
    "baseline": ({}, {}, None, True, None),
    "fp16": ({"precision": "fp16"}, {}, None, True, None),
    "fp32": ({"precision": "fp32"}, {}, None, True, None),
    "no-tf32": ({}, {"tf32": False}, None, True, None),
    "unfused-adamw": ({}, {"fused_adamw": False}, None, True, None),
    "eager-attention": ({}, {}, "eager", True, None),
    "flash-attention": ({}, {}, "flash_attention_2", True, "flash_attn"),
    "unseparated": ({}, {}, None, False, None),
    "compile": ({"compile": True}, {}, None, True, None),
    "lora": ({"method": parse_method({"type": "lora", "lora": {"r": 16}})}, {}, None, True, None),
    "qlora": (
        {"method": parse_method({"type": "lora", "lora": {"r": 16, "quantize": "4bit"}})},
        {},
        None,
        True,
        "bitsandbytes",
    ),
}


@contextlib.contextmanager
def overridden(switches: dict[str, bool], attention: str | None, separate: bool) -> Iterator[None]:
    """The switches a spec cannot carry (TF32, fused AdamW, attention, packing separation),
    changed for one run by wrapping the two calls of `trainer.train` that decide them: the
    precision choice, and the packing check, which gets the freshly loaded base first."""
    import trainer.train as train

    saved_choose, saved_separates = train.choose, train.separates_packed

    def choose(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(saved_choose(*args, **kwargs), **switches)

    def separates(model: Any) -> bool:
        if attention is not None:
            model.set_attn_implementation(attention)
        return bool(saved_separates(model)) and separate

    train.choose, train.separates_packed = choose, separates
    try:
        yield
    finally:
        train.choose, train.separates_packed = saved_choose, saved_separates


def train_once(spec: TrainSpec, warmup: int) -> dict[str, Any]:
    """One run in this process: its metrics, with `steady_tokens_per_s` after the warm-up."""
    from trainer.callbacks import Control
    from trainer.train import run_training

    events: list[dict[str, Any]] = []
    final = run_training(
        spec, lambda e: events.append(dict(e)), Control(threading.Event(), threading.Event())
    )
    if final["event"] != "completed":
        raise RuntimeError(final.get("reason") or final.get("error") or str(final))
    for event in events:
        if event["event"] == "log":
            print("   ", event["message"], flush=True)
    metrics = dict(final["metrics"])
    metrics["steady_tokens_per_s"] = steady_rate(events, warmup) or metrics["tokens_per_s"]
    return metrics


def steady_rate(events: list[dict[str, Any]], warmup: int) -> float:
    """Tokens/s between step `warmup` and the last step, from the progress events' running
    tokens/s (each is tokens so far ÷ seconds inside optimizer steps so far)."""
    progress = [e for e in events if e["event"] == "progress" and e["tokens_per_s"] > 0]
    seconds = {e["step"]: e["tokens_seen"] / e["tokens_per_s"] for e in progress}
    tokens = {e["step"]: e["tokens_seen"] for e in progress}
    if warmup not in seconds or not progress or progress[-1]["step"] <= warmup:
        return 0.0
    last = progress[-1]["step"]
    return (tokens[last] - tokens[warmup]) / (seconds[last] - seconds[warmup])


def build_base(folder: Path, corpus: Path, shape: str) -> str:
    """A base folder of a preset's shape (random weights, tokenizer trained on `corpus`)."""
    from trainer.data import read_dataset
    from trainer.models import PRESET_CONFIGS, build_preset
    from trainer.spec import DataOptions

    texts = [e.text for e in read_dataset(str(corpus), DataOptions()).examples]
    base = build_preset(PRESET_CONFIGS[shape], texts, seed=0)
    base.model.save_pretrained(str(folder))
    base.tokenizer.save_pretrained(str(folder))
    return str(folder)


def flops_per_token(model_dir: str, block: int) -> float:
    """nanoGPT's estimate: 6N for the weights plus attention over the block."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    parameters = sum(p.numel() for p in model.parameters())
    return 6 * parameters + 12 * config.n_layer * config.n_embd * block


def missing(needs: str | None) -> str | None:
    """Why a variant cannot run here, or None."""
    if needs is not None and importlib.util.find_spec(needs) is None:
        return f"skipped: the {needs} package is not installed"
    return None


def main() -> None:
    """Run every variant per round; print tokens/s, MFU and ratios to the baseline."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--shape", default="small")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    if unknown := [n for n in names if n not in VARIANTS]:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "bench/gpu_train.py needs a CUDA GPU, and torch sees none here. On a CPU, "
            "`--device cpu --shape micro --steps 3 --warmup 1 --rounds 1 --batch 2 --block 64"
            " --examples 400 --variants baseline,fp32,lora` runs the same code as a smoke test."
        )
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus.jsonl"
        write_corpus(data, args.examples)
        base = build_base(Path(tmp) / "base", data, args.shape)
        flops = flops_per_token(base, args.block)
        hp = Hyperparameters(
            max_steps=args.steps,
            eval_every=args.steps,
            save_every=args.steps,
            batch_size=args.batch,
            block_size=args.block,
            learning_rate=6e-4,
        )
        template = TrainSpec(
            dataset_path=str(data),
            output_dir="",
            checkpoint_dir="",
            base=base,
            hyperparameters=hp,
            device=args.device,
        )
        speed: dict[str, list[float]] = {name: [] for name in names}

        def mfu(tps: float) -> float:
            return tps * flops / (args.peak_tflops * 1e12)

        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                spec_changes, switches, attention, separate, needs = VARIANTS[name]
                if reason := missing(needs):
                    print(f"round {round_ + 1} {name}: {reason}", flush=True)
                    continue
                spec = dataclasses.replace(
                    template,
                    output_dir=f"{tmp}/model-{round_}-{name}",
                    checkpoint_dir=f"{tmp}/ckpt-{round_}-{name}",
                    **spec_changes,
                )
                try:
                    with overridden(switches, attention, separate):
                        metrics = train_once(spec, args.warmup)
                except Exception as exc:  # one variant failing must not hide the others
                    print(f"round {round_ + 1} {name}: failed: {exc}", flush=True)
                    continue
                tps = metrics["steady_tokens_per_s"]
                speed[name].append(tps)
                print(
                    f"round {round_ + 1} {name}: {tps:.0f} tok/s, MFU {mfu(tps):.1%},"
                    f" {metrics.get('precision')}, eval loss {metrics['eval_loss']:.3f}",
                    flush=True,
                )
                if args.device == "cuda":
                    torch.cuda.empty_cache()
    report(speed, mfu, args)


def report(speed: dict[str, list[float]], mfu: Callable[[float], float], args: Any) -> None:
    """The summary: per variant tokens/s, MFU and ratio to the baseline."""
    print(
        f"\n{args.shape} shape, batch {args.batch} x block {args.block}, {args.steps} steps/run"
        f" ({args.warmup} warm-up steps not counted), peak {args.peak_tflops:g} TFLOPS"
    )
    baseline = speed.get("baseline", [])
    for name, values in speed.items():
        if not values:
            continue
        line = f"{name:16} tokens/s {spread(values)}; MFU {mfu(statistics.median(values)):.1%}"
        if baseline and name != "baseline" and len(values) == len(baseline):
            ratios = [v / b for v, b in zip(values, baseline, strict=True)]
            line += f"; / baseline {spread(ratios)}"
        print(line)
    print("goal: baseline MFU >= 40 %")


if __name__ == "__main__":
    main()
