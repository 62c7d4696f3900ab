"""Loading the settings: read the TOML file, validate, and name every bad key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.settings.root import Settings

DEFAULT_CONFIG_PATH = Path("config.toml")


class SettingsError(Exception):
    """Settings could not be loaded; the message names the offending keys."""


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read the TOML file (if present, or required), apply env overrides, validate."""
    path = path or DEFAULT_CONFIG_PATH
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    elif required:
        raise SettingsError(f"{path}: no such config file")
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc, path)) from None


def format_validation_error(exc: ValidationError, path: Path) -> str:
    """One line per bad key: `http.port: Input should be a valid integer (got 'abc')`."""
    lines = [f"invalid settings in {path} or TRAINBOT_* environment:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        got = error.get("input")
        shown = "" if isinstance(got, dict) or error["type"] == "missing" else f" (got {got!r})"
        if "secret" in key or "password" in key or "token" in key or "api_key" in key:
            shown = ""  # never echo a secret back, even a malformed one
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)
