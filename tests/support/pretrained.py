"""Tiny "pretrained" bases for tests: a GPT-2 and a Llama-style model with chat templates.

Real open models are far too big for a CPU test run, so this builds look-alikes: a
byte-level BPE tokenizer trained here with ChatML-like special tokens and a Jinja chat
template, a model of two layers and width 64, and a few hundred steps of plain PyTorch
on generated text (animal stories, keyword sentences and chat turns in the template) so
that fine-tuning one of them starts from knowledge a from-scratch preset lacks. The
folder is what `save_pretrained` writes, so everything that loads a Hugging Face folder
loads it. Each architecture is built once per test session (a few seconds) and shared:

    from tests.support.pretrained import build_base
    folder = build_base(tmp_path_factory.getbasetemp(), "llama")
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

Architecture = Literal["gpt2", "llama"]

ANIMALS = ("cat", "dog", "fox", "owl", "bee", "cow", "hen", "pig", "rat", "elk")
VERBS = ("sees", "likes", "chases", "finds", "helps", "calls")
KEYWORDS = ("apple", "river", "candle", "tiger", "violin", "rocket", "garden", "mirror")

END_OF_TEXT = "<|endoftext|>"
TURN_START = "<|im_start|>"
TURN_END = "<|im_end|>"
# ChatML, as Qwen and SmolLM ship it. `{% generation %}` marks the assistant's trained
# text for `apply_chat_template(..., return_assistant_tokens_mask=True)`.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WIDTH = 64
LAYERS = 2
HEADS = 4
CONTEXT = 256
VOCAB_SIZE = 512
PRETRAIN_STEPS = 60
PRETRAIN_BATCH = 8
PRETRAIN_BLOCK = 64
SEED = 1234

_lock = threading.Lock()
_built: dict[str, Path] = {}


def build_base(tmp_root: Path, arch: Architecture) -> Path:
    """The folder of a tiny pretrained `arch` base, built under `tmp_root` on first use.

    Later calls in the same process return the first folder (whatever `tmp_root` they
    pass), so every test module of a session shares one build per architecture.
    """
    if arch not in ("gpt2", "llama"):
        raise ValueError(f"unknown architecture {arch!r}: use 'gpt2' or 'llama'")
    with _lock:
        cached = _built.get(arch)
        if cached is not None and (cached / "config.json").is_file():
            return cached
        folder = Path(tmp_root) / f"pretrained-{arch}"
        if not (folder / "config.json").is_file():
            _build_into(folder, arch)
        _built[arch] = folder
        return folder


def pretraining_texts(count: int = 1500, seed: int = SEED) -> list[str]:
    """The generated corpus the bases learn: stories, keyword sentences, chats."""
    rng = random.Random(seed)
    texts = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            a, b = rng.sample(ANIMALS, 2)
            verb = rng.choice(VERBS)
            texts.append(f"the {a} {verb} the {b}. the {b} {verb} the {a}.")
        elif kind == 1:
            keyword = rng.choice(KEYWORDS)
            texts.append(f"the {keyword} is here. i like the {keyword}.")
        else:
            a, b = rng.sample(ANIMALS, 2)
            verb = rng.choice(VERBS)
            texts.append(_render_chat(f"who {verb} the {b}?", f"the {a} {verb} the {b}."))
    return texts


def _render_chat(question: str, answer: str) -> str:
    return f"{TURN_START}user\n{question}{TURN_END}\n{TURN_START}assistant\n{answer}{TURN_END}\n"


def _build_into(folder: Path, arch: Architecture) -> None:
    # Built beside the target and renamed, so a folder that exists is complete.
    import torch

    partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    texts = pretraining_texts()
    tokenizer = _tokenizer(texts)
    model = _model(arch, tokenizer)
    # Matrices this small gain nothing from a second thread, and on a shared machine
    # threads that wait for each other cost many times the work.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _pretrain(model, tokenizer, texts)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    (partial / "pretraining.json").write_text(
        json.dumps({"steps": PRETRAIN_STEPS, "texts": len(texts), "arch": arch})
    )
    partial.rename(folder)


def _tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[END_OF_TEXT, TURN_START, TURN_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    # Like a ChatML instruct model: a turn ends generation, <|endoftext|> pads.
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=raw,
        model_max_length=CONTEXT,
        bos_token=END_OF_TEXT,
        eos_token=TURN_END,
        unk_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        additional_special_tokens=[TURN_START],
        chat_template=CHAT_TEMPLATE,
    )


def _model(arch: Architecture, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=CONTEXT,
            n_embd=WIDTH,
            n_layer=LAYERS,
            n_head=HEADS,
            **ids,
        )
        return GPT2LMHeadModel(config)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=WIDTH,
        intermediate_size=WIDTH * 2,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS // 2,
        max_position_embeddings=CONTEXT,
        tie_word_embeddings=True,
        **ids,
    )
    return LlamaForCausalLM(llama)


def _pretrain(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> None:
    """A bare next-token loop over the texts packed into blocks."""
    import torch

    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(tokenizer.pad_token_id)  # <|endoftext|> between documents
    blocks = len(stream) // PRETRAIN_BLOCK
    data = torch.tensor(stream[: blocks * PRETRAIN_BLOCK]).view(blocks, PRETRAIN_BLOCK)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for _ in range(PRETRAIN_STEPS):
        rows = torch.randint(0, blocks, (PRETRAIN_BATCH,), generator=generator)
        batch = data[rows]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()  # type: ignore[no-untyped-call]
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
