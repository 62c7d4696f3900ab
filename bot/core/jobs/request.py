"""`JobRequest`: what a person or program asks to train, before any backend checks it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobRequest:
    """What a person or program asks for; checked by the backend it names."""

    dataset: str
    base: str | None = None
    name: str | None = None
    hyperparameters: dict[str, Any] | None = None
    backend: str = ""  # empty: trainer.default_backend
    # How to train, raw as asked: {"type": "lora", "lora": {"r": 16}}; checked by the backend.
    method: dict[str, Any] | None = None
    # Where to train, raw as asked: {"workers": 2, "gpus_per_worker": 1}; checked by the backend.
    resources: dict[str, Any] | None = None
    # A dataset to validate on instead of a held-out share of `dataset` (local backend).
    validation_dataset: str | None = None

    def fingerprint(self) -> str:
        """A hash of the request, to tell a retried request from a different one."""
        raw = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()
