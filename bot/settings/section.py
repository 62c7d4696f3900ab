"""The base of every settings section, and the secrets it reads from files."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

# A name people type in commands and URLs (sources, schedules, hooks).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Section(BaseModel):
    """A settings section: unknown keys are errors, so typos are caught at start."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: object) -> object:
        # `foo_file = "/run/secrets/foo"` fills the secret `foo`, so secrets need not sit
        # in the TOML. Setting both is ambiguous and refused.
        if not isinstance(data, dict):
            return data
        for key in list(data):
            if not key.endswith("_file") or data[key] in (None, ""):
                continue
            target = key.removesuffix("_file")
            if target not in cls.model_fields:
                continue
            if data.get(target) not in (None, "", []):
                raise ValueError(f"set either {target} or {key}, not both")
            data[target] = read_secret_file(Path(data[key]), target)
        return data


def read_secret_file(path: Path, target: str) -> str | list[str]:
    """The secret `target` from a file; `tokens` hold one token per line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {target}_file {path}: {exc.strerror}") from None
    if target == "tokens":
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text.strip()


def resolve_secret_reference(reference: str, what: str) -> str:
    """`env:NAME` or `file:/path` to the secret it names (never the reference itself)."""
    kind, _, target = reference.partition(":")
    if kind == "env" and target:
        value = os.environ.get(target)
        if not value:
            raise ValueError(f"{what}: environment variable {target} is not set")
        return value
    if kind == "file" and target:
        text = read_secret_file(Path(target), what)
        assert isinstance(text, str)
        return text
    raise ValueError(f"{what}: use env:VARIABLE or file:/path, not a literal secret")
