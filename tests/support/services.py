"""Shared helpers for tests that run a real App: data, settings, waiting for events."""

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.services import Services
from bot.settings import Settings
from storage.jobs import EventRow

# Small enough that a run takes seconds on two CPU cores (the hidden "micro" preset).
FAST = {"max_steps": 30, "batch_size": 4, "block_size": 32, "eval_every": 10, "save_every": 10}
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "a",
    "dog",
    "ran",
    "to",
    "the",
    "park",
    "and",
    "a",
    "boat",
    "sailed",
    "home",
]


def records(count: int = 40, seed: int = 0) -> list[dict[str, str]]:
    """Short sentences from a small vocabulary: learnable in a few steps."""
    rng = random.Random(seed)
    return [{"text": " ".join(rng.choice(WORDS) for _ in range(10))} for _ in range(count)]


def make_settings(data_dir: Path, **trainer: Any) -> Settings:
    return Settings(
        storage={"data_dir": str(data_dir)},
        http={"enabled": False},
        matrix={"enabled": False},
        trainer={"default_base": "micro", "stop_grace_s": 10, **trainer},
    )


def is_final_state(row: EventRow) -> bool:
    return row.event == "state" and row.data["status"] in (
        "succeeded",
        "failed",
        "cancelled",
        "paused",
    )


async def wait_for(
    services: Services, job_id: str, until: Callable[[EventRow], bool]
) -> list[EventRow]:
    """Follow a job's events (stored, then live) until `until` holds; return them all."""
    seen = []
    async for row in services.bus.follow(job_id, 0, until):
        seen.append(row)
    return seen
