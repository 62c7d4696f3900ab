"""LoRA training throughput: trainbot's path against a bare peft + PyTorch loop.

Builds a base folder (the `tiny` preset's shape, GPT-2 or Llama-style, random weights
and a BPE tokenizer trained on the corpus: throughput does not depend on what the
weights know), then per round trains a LoRA adapter through the real path (worker
process, HF Trainer with trainbot callbacks, packed blocks, `method=lora`) and runs a
bare loop in a child process: the same base, the same LoRA settings and targets (peft),
the same packed blocks and batch size (with the same position ids that restart per packed
example, when the base keeps packed examples apart by them, as trainbot does: without
them the bare loop would run plain causal attention, less work than trainbot's
block-diagonal mask), AdamW over the adapter's weights, the same gradient clipping.
Both run at the training worker's niceness. Prints each round's tokens/s and ratio, then
the true median of the ratios with their spread.

    .venv/bin/python bench/lora_throughput.py [--steps 40] [--rounds 5] [--arch gpt2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rounds import interleaved, ratios, spread
from bench.train_throughput import at_worker_priority, real_path, write_corpus
from trainer.methods import parse_method
from trainer.spec import Hyperparameters, TrainSpec

LORA = {"type": "lora", "lora": {"r": 16}}


def build_base(folder: Path, corpus: Path, arch: str) -> str:
    """A base folder of the tiny preset's size with a tokenizer trained on `corpus`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from trainer.data import read_dataset
    from trainer.models import PRESET_CONFIGS, build_preset
    from trainer.spec import DataOptions

    texts = [e.text for e in read_dataset(str(corpus), DataOptions()).examples]
    preset = PRESET_CONFIGS["tiny"]
    base = build_preset(preset, texts, seed=0)
    model = base.model
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=len(base.tokenizer),
            hidden_size=preset.n_embd,
            intermediate_size=4 * preset.n_embd,
            num_hidden_layers=preset.n_layer,
            num_attention_heads=preset.n_head,
            max_position_embeddings=preset.n_positions,
            eos_token_id=base.tokenizer.eos_token_id,
            pad_token_id=base.tokenizer.eos_token_id,
        )
        model = LlamaForCausalLM(config)
    model.save_pretrained(str(folder))
    base.tokenizer.save_pretrained(str(folder))
    return str(folder)


def bare_loop(spec: TrainSpec, steps: int) -> float:
    """Tokens/s of a plain peft + PyTorch loop over the same packed blocks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.pytorch_utils import Conv1D

    from trainer.data import load_dataset, split_examples
    from trainer.lora import check_targets
    from trainer.models import separates_packed
    from trainer.packing import pack, tokenize_examples

    hp, options = spec.hyperparameters, spec.method.lora
    assert options is not None
    tokenizer = AutoTokenizer.from_pretrained(spec.base)
    report = load_dataset(spec.dataset_path, spec.data)
    train, _ = split_examples(report.examples, hp.val_fraction, hp.seed)
    eos = int(tokenizer.eos_token_id)
    blocks = pack(tokenize_examples(train, tokenizer), hp.block_size, eos, eos)
    ids, labels = torch.tensor(blocks.input_ids), torch.tensor(blocks.labels)
    positions = torch.tensor(blocks.position_ids)
    torch.manual_seed(hp.seed)
    base = AutoModelForCausalLM.from_pretrained(spec.base)
    base.config.use_cache = False  # as in training
    separate = separates_packed(base)  # trainbot's choice for this base
    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(check_targets(base, options)),
        task_type="CAUSAL_LM",
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in base.modules()),
    )
    model = get_peft_model(base, config)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=hp.weight_decay)
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(hp.seed))
    began = time.perf_counter()
    for step in range(steps):
        start = step * hp.batch_size % max(1, len(ids) - hp.batch_size)
        batch = order[start : start + hp.batch_size]
        extra = {"position_ids": positions[batch]} if separate else {}
        loss = model(input_ids=ids[batch], labels=labels[batch], **extra).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - began
    return steps * hp.batch_size * hp.block_size / seconds


def main() -> None:
    """Alternate which path goes first; report the true median ratio and its spread."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--arch", choices=("gpt2", "llama"), default="gpt2")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus.jsonl"
        write_corpus(data, args.examples)
        base = build_base(Path(tmp) / "base", data, args.arch)
        hp = Hyperparameters(max_steps=args.steps, eval_every=args.steps, save_every=args.steps)
        spec = TrainSpec(
            dataset_path=str(data),
            output_dir=f"{tmp}/adapter",
            checkpoint_dir=f"{tmp}/ckpt",
            base=base,
            hyperparameters=hp,
            device="cpu",
            method=parse_method(LORA),
        )
        if "precision" in {f.name for f in dataclasses.fields(TrainSpec)}:
            spec = dataclasses.replace(spec, precision="fp32")  # the bare loop's precision

        def trainbot(round_: int) -> float:
            round_spec = dataclasses.replace(spec, checkpoint_dir=f"{tmp}/ckpt{round_}")
            return float(asyncio.run(real_path(round_spec))["tokens_per_s"])

        def bare(round_: int) -> float:
            return at_worker_priority(bare_loop, spec, args.steps)

        speed = interleaved(args.rounds, {"trainbot": trainbot, "bare": bare}, " tok/s")
    print(f"arch={args.arch} steps={args.steps} batch={hp.batch_size} block={hp.block_size} r=16")
    print(f"trainbot path : median {statistics.median(speed['trainbot']):10.0f} tokens/s")
    print(f"bare peft     : median {statistics.median(speed['bare']):10.0f} tokens/s")
    print(f"ratio         : {spread(ratios(speed['trainbot'], speed['bare']))}   (goal >= 0.95)")


if __name__ == "__main__":
    main()
