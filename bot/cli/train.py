"""`trainbot train`: fine-tune a model on a dataset file through a worker process.

On a terminal it shows a live progress line and a summary; with `--json` it prints one
JSON object per event, the flattened `completed` object last. Ctrl-C pauses at a
checkpoint and prints the command that resumes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.core.errors import Invalid
from bot.core.jobs.hyperparameters import parse_job_method
from bot.core.jobs.train_spec import DatasetInput, RunOptions, build_train_spec
from trainer.events import FinalEvent, Progress, TrainEvent, is_final
from trainer.methods import METHOD_TYPES, MethodError, parse_method
from trainer.spec import DATASET_FORMATS, Hyperparameters, TrainSpec

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_FAILED = 1
EXIT_DATASET_REFUSED = 2
EXIT_STOPPED = 130  # what a shell reports for a program ended by Ctrl-C

# CLI option -> Hyperparameters field; None values keep the dataclass default.
_HYPERPARAMETER_OPTIONS = {
    "epochs": "epochs",
    "max_steps": "max_steps",
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "block_size": "block_size",
    "val_fraction": "val_fraction",
    "seed": "seed",
    "eval_every": "eval_every",
}

# Method options (strings, checked by trainer.methods.parse_method with the job's rules).
_METHOD_HELP = {
    "lora_r": "LoRA rank (default 16); implies --method lora",
    "lora_alpha": "LoRA alpha (default twice the rank)",
    "lora_dropout": "LoRA dropout (default 0.05)",
    "lora_targets": "comma-separated layer names (default: every linear layer)",
    "quantize": "4bit: QLoRA (needs CUDA and bitsandbytes)",
    "beta": "DPO beta (default 0.1)",
}


def register(subparsers: Subparsers) -> None:
    """Add the subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="Fine-tune a model on a dataset file.",
        description="Train a model on DATA in a worker process and write a Hugging Face "
        "model folder to --out. Ctrl-C pauses at a checkpoint; --resume continues.",
    )
    parser.add_argument("data", metavar="DATA", help="dataset file (.jsonl, .csv or .txt)")
    parser.add_argument(
        "--format", choices=DATASET_FORMATS, help="dataset format (default: detect)"
    )
    parser.add_argument(
        "--base", default="tiny", help="tiny, small, or a model folder (default: tiny)"
    )
    parser.add_argument("--epochs", type=float, help="passes over the data")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, help="blocks per optimizer step")
    parser.add_argument("--block-size", type=int, help="tokens per training block")
    parser.add_argument("--val-fraction", type=float, help="share of examples held out")
    parser.add_argument("--eval-every", type=int, help="steps between evaluations")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same run)")
    parser.add_argument("--skip-invalid", action="store_true", help="leave out invalid rows")
    parser.add_argument("--method", choices=METHOD_TYPES, help="full (default), lora or dpo")
    for option, help_text in _METHOD_HELP.items():
        parser.add_argument(f"--{option.replace('_', '-')}", help=help_text)
    parser.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    parser.add_argument("--checkpoint-dir", metavar="DIR", help="default: <out>.checkpoints")
    parser.add_argument("--resume", metavar="DIR", help="continue from the checkpoints in DIR")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.set_defaults(func=run)


def method_of(args: argparse.Namespace) -> dict[str, object] | None:
    """The raw method the options ask for (checked by `parse_method`)."""
    lora = {key: getattr(args, f"lora_{key}") for key in ("r", "alpha", "dropout", "targets")}
    lora = {key: value for key, value in lora.items() if value is not None}
    if args.quantize is not None:
        lora["quantize"] = args.quantize
    kind = args.method or ("lora" if lora else None)
    if kind is None:
        return None
    method: dict[str, object] = {"type": kind}
    if lora:
        method["lora"] = lora
    if args.beta is not None:
        method["dpo"] = {"beta": args.beta}
    return method


def build_spec(args: argparse.Namespace) -> TrainSpec:
    """The TrainSpec the arguments describe (MethodError for bad method settings)."""
    changes = {
        field: getattr(args, option)
        for option, field in _HYPERPARAMETER_OPTIONS.items()
        if getattr(args, option) is not None
    }
    checkpoint_dir = args.resume or args.checkpoint_dir or f"{args.out.rstrip('/')}.checkpoints"
    return build_train_spec(
        DatasetInput(args.data, args.format, args.skip_invalid),
        output_dir=args.out,
        checkpoint_dir=checkpoint_dir,
        base=args.base,
        hyperparameters=Hyperparameters().replace(**changes),
        method=parse_method(method_of(args)),
        options=RunOptions(),
        resume=args.resume is not None,
    )


def run(args: argparse.Namespace) -> int:
    """Validate the dataset here (fast, no torch), then train in a worker."""
    from trainer.data import read_dataset

    try:
        spec = build_spec(args)
    except MethodError as exc:
        print(f"trainbot train: {exc}", file=sys.stderr)
        return EXIT_DATASET_REFUSED
    report = read_dataset(spec.dataset_path, spec.data, spec.hyperparameters.block_size)
    if not report.ok:
        print(report.summary(), file=sys.stderr)
        return EXIT_DATASET_REFUSED
    try:  # the jobs' own check: an adapter base, DPO on preference data, QLoRA's needs
        parse_job_method(method_of(args), spec.base, spec.device, report.format)
    except Invalid as exc:
        # The jobs' messages name chat commands; here the same thing is a subcommand.
        print(f"trainbot train: {exc.message.replace('!merge', 'trainbot merge')}", file=sys.stderr)
        return EXIT_DATASET_REFUSED
    display: Display = JsonDisplay() if args.json else TextDisplay(sys.stderr.isatty())
    return asyncio.run(_train(spec, display, args))


async def _train(spec: TrainSpec, display: Display, args: argparse.Namespace) -> int:
    from trainer.workers.pool import TrainingPool

    pool = TrainingPool(max_concurrent=1)
    run = await pool.start(spec)
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            print("\nPausing at the next step (Ctrl-C again to stop now)…", file=sys.stderr)
            run.pause()
        else:
            run.kill()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        async for event in run.events():
            display.show(event)
        final = await run.wait()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await pool.shutdown()
    return _finish(final, spec, args)


def _finish(final: FinalEvent, spec: TrainSpec, args: argparse.Namespace) -> int:
    if final["event"] == "completed":
        return 0
    if final["event"] == "stopped":
        if final.get("reason") == "pause" and final.get("checkpoint"):
            print(f"Paused at step {final['step']}. Resume with:", file=sys.stderr)
            print(f"  {resume_command(args, spec.checkpoint_dir)}", file=sys.stderr)
        return EXIT_STOPPED
    if final.get("code") == "dataset_refused":
        print(final.get("detail", ""), file=sys.stderr)
        return EXIT_DATASET_REFUSED
    return EXIT_FAILED


def resume_command(args: argparse.Namespace, checkpoint_dir: str) -> str:
    """The `trainbot train` command line that continues this run."""
    words = ["trainbot", "train", args.data, "--out", args.out, "--base", args.base]
    for option in [*_HYPERPARAMETER_OPTIONS, "format", "method", *_METHOD_HELP]:
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option.replace('_', '-')}", str(value)]
    if args.skip_invalid:
        words.append("--skip-invalid")
    return shlex.join([*words, "--resume", checkpoint_dir])


class Display:
    """Shows training events to a person or a program."""

    def show(self, event: TrainEvent) -> None:
        """Render one event."""
        raise NotImplementedError


class JsonDisplay(Display):
    """One JSON object per line; `completed` is flattened so the last line says it all."""

    def show(self, event: TrainEvent) -> None:
        """Print the event as JSON."""
        shown: Mapping[str, object] = event
        if event["event"] == "completed":
            shown = {"event": "completed", "model_dir": event["model_dir"], **event["metrics"]}
        print(json.dumps(shown, default=str), flush=True)


class TextDisplay(Display):
    """A live progress line on a terminal, plain lines otherwise, and a summary."""

    def __init__(self, live: bool) -> None:
        self._live = live
        self._last_plain = -1

    def show(self, event: TrainEvent) -> None:
        """Print the event for a person."""
        if event["event"] == "progress":
            self._progress(event)
        elif event["event"] == "started":
            resumed = event.get("resumed_from_step") or 0
            note = f", resuming at step {resumed}" if resumed else ""
            self._line(
                f"Training {event['total_steps']} steps on {event['train_examples']} "
                f"examples ({event['val_examples']} held out){note}"
            )
        elif event["event"] == "eval":
            label = "initial " if event.get("initial") else ""
            self._line(
                f"step {event['step']}: {label}eval loss {event['eval_loss']:.4f}, "
                f"perplexity {event['perplexity']:.2f}"
            )
        elif event["event"] == "log":
            self._line(f"{event['level']}: {event['message']}")
        elif is_final(event):
            self._line(summary(event))

    def _progress(self, event: Progress) -> None:
        text = progress_line(event)
        if self._live:
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()
        elif event["step"] * 10 // max(1, event["total_steps"]) != self._last_plain:
            self._last_plain = event["step"] * 10 // max(1, event["total_steps"])
            print(text, file=sys.stderr)

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[2K" if self._live else ""
        print(prefix + text, file=sys.stderr)


def progress_line(event: Progress) -> str:
    """`step 40/300 [###-------] loss 2.31 | 12.3k tok/s | ETA 1m20s`."""
    step, total = event["step"], max(1, event["total_steps"])
    filled = min(20, step * 20 // total)
    bar = "#" * filled + "-" * (20 - filled)
    rate = event["tokens_per_s"]
    return (
        f"step {step}/{total} [{bar}] loss {event['loss']:.3f} | "
        f"{rate / 1000:.1f}k tok/s | ETA {_duration(event['eta_s'])}"
    )


def summary(event: FinalEvent) -> str:
    """One paragraph about how the run ended."""
    if event["event"] == "completed":
        m = event["metrics"]
        initial = m.get("initial_perplexity")
        start = f" (from {initial:.2f})" if initial else ""
        return (
            f"Done: {m['steps']} steps, eval loss {m['eval_loss']:.4f}, perplexity "
            f"{m['perplexity']:.2f}{start}, {m['tokens_per_s']:.0f} tokens/s, "
            f"{_duration(m['duration_s'])}.\nModel saved to {event['model_dir']}"
        )
    if event["event"] == "stopped":
        return f"Stopped ({event['reason']}) at step {event['step']}."
    return f"Training failed: {event['error']}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
