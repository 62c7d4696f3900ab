"""CPU bf16: trainbot in bf16 and in fp32 against an fp32 bare PyTorch loop.

Decides `trainer.precision.CPU_BF16_BY_DEFAULT`. Per round, on the same corpus, steps and
seed: a trainbot run forced to bf16 (what "auto" picks on a CPU with native bf16 while
`CPU_BF16_BY_DEFAULT` is on), the same run in fp32, and the bare fp32 loop of
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
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rounds import interleaved, ratios, spread
from bench.train_throughput import at_worker_priority, bare_loop, real_path, write_corpus
from trainer.spec import Hyperparameters, TrainSpec


def resolve_base(name: str, tmp: str) -> str:
    """A preset name or folder as given; `gpt2`/`llama` build the tests' tiny pretrained base."""
    if name not in ("gpt2", "llama"):
        return name
    from tests.support.pretrained import build_base

    return str(build_base(Path(tmp), name))


def autocast_check(model_dir: str, data: Path) -> str:
    """The same weights and batch in fp32 and under CPU bf16 autocast: how far the logits
    and the loss move. Shows the bf16 path really computes in bf16 (its losses agree with
    fp32 to about four decimals: the logits' rounding errors average out over a batch)."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()[:8]]
    ids = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=64)
    batch = {"input_ids": ids.input_ids, "labels": ids.input_ids}
    with torch.no_grad():
        full = model(**batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(**batch)
    return (
        f"logits {half.logits.dtype} under autocast, max |delta logit| "
        f"{(half.logits.float() - full.logits).abs().max():.4f}; "
        f"loss {half.loss:.6f} vs fp32 {full.loss:.6f}"
    )


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
        losses: dict[str, list[tuple[float, float]]] = {"bf16": [], "fp32": []}

        def spec(name: str, round_: int) -> TrainSpec:
            return TrainSpec(
                dataset_path=str(data),
                output_dir=f"{tmp}/{name}-{round_}",
                checkpoint_dir=f"{tmp}/ckpt-{name}{round_}",
                base=base,
                hyperparameters=hp,
                device="cpu",
                precision="fp32" if name == "bare" else name,
            )

        def trainbot(precision: str) -> Callable[[int], float]:
            def measure(round_: int) -> float:
                metrics = asyncio.run(real_path(spec(precision, round_)))
                losses[precision].append((metrics["eval_loss"], metrics["train_loss"]))
                return metrics["tokens_per_s"]

            return measure

        def bare(round_: int) -> float:
            # The bare loop of a preset reads the tokenizer of round 0's first run.
            model_dir = base if Path(base).is_dir() else f"{tmp}/bf16-0"
            return at_worker_priority(bare_loop, spec("bare", round_), model_dir, args.steps)

        def note(round_: int) -> str:
            (b_eval, b_train), (f_eval, f_train) = losses["bf16"][-1], losses["fp32"][-1]
            return (
                f"eval loss bf16 {b_eval:.6f} vs fp32 {f_eval:.6f},"
                f" mean train loss {b_train:.6f} vs {f_train:.6f}"
            )

        measures = {"bf16": trainbot("bf16"), "fp32": trainbot("fp32"), "bare": bare}
        speed = interleaved(args.rounds, measures, " tok/s", note)
        check = autocast_check(f"{tmp}/bf16-0", data)
    loss_gap = [
        abs(b[0] - f[0]) / f[0] for b, f in zip(losses["bf16"], losses["fp32"], strict=True)
    ]
    print(f"base={args.base} steps={args.steps} batch={hp.batch_size} block={hp.block_size}")
    print(
        f"native bf16 on this CPU: {cpu_has_native_bf16()}; CPU_BF16_BY_DEFAULT="
        f"{CPU_BF16_BY_DEFAULT}; 'auto' picks {choose('cpu', 'auto', 0).precision} here"
    )
    goal = "   (goal >= 1.4)"
    print(f"trainbot bf16 / bare fp32   : {spread(ratios(speed['bf16'], speed['bare']))}{goal}")
    print(f"trainbot fp32 / bare fp32   : {spread(ratios(speed['fp32'], speed['bare']))}")
    print(f"trainbot bf16 / trainbot fp32: {spread(ratios(speed['bf16'], speed['fp32']))}")
    print(
        f"eval loss gap bf16 to fp32  : {spread([100 * g for g in loss_gap], 4)} %   (goal <= 2 %)"
    )
    print(f"one forward pass, round 1's bf16 model: {check}")


if __name__ == "__main__":
    main()
