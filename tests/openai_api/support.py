"""Fine-tuning files for the OpenAI API tests: short conversations as JSONL."""

import json
import random
from pathlib import Path

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "sun"]


def chat_rows(count: int = 40, seed: int = 0) -> list[dict[str, object]]:
    """Short conversations from a small vocabulary: learnable in a few steps."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for _ in range(count):
        question = " ".join(rng.choice(WORDS) for _ in range(4))
        answer = " ".join(rng.choice(WORDS) for _ in range(6))
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        rows.append({"messages": messages})
    return rows


def jsonl(rows: list[dict[str, object]]) -> bytes:
    """Rows as a JSONL file."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def write_jsonl(folder: Path, name: str, rows: list[dict[str, object]]) -> Path:
    """A JSONL file on disk, as a person would upload it."""
    path = folder / name
    path.write_bytes(jsonl(rows))
    return path
