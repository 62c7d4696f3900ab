"""Render `config.example.toml` from the settings declarations (one source of truth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.settings.root import Settings

HEADER = """\
# Trainbot configuration. Every setting, its default and what it does.
# This file is generated from bot/settings/: `trainbot check-config --example`.
# Any key can be overridden by an environment variable TRAINBOT_<SECTION>__<KEY>,
# e.g. TRAINBOT_HTTP__PORT=8080. Secrets may come from a file (the *_file keys).
"""


def render_example() -> str:
    """The example config: each section, each key with its description and default."""
    parts = [HEADER]
    for name, field in Settings.model_fields.items():
        if _table_item(field) is not None:  # top-level [[sources]], [[schedules]]
            parts.append("\n".join(_render_table_list(name, name, field)) + "\n")
            continue
        section = field.annotation
        assert isinstance(section, type) and issubclass(section, BaseModel)
        parts.append(_render_section(name, section))
    return "\n".join(parts)


def _render_section(name: str, section: type[BaseModel]) -> str:
    lines = [f"# {(section.__doc__ or '').strip()}", f"[{name}]"]
    tables = []
    for key, field in section.model_fields.items():
        if _table_item(field) is not None:
            tables.append((key, field))  # after the plain keys, where TOML wants them
            continue
        lines.append(f"# {field.description}")
        value = _default(field)
        if value is None:
            lines.append(f"# {key} = {_placeholder(field)}")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, field in tables:
        lines.extend(_render_table_list(f"{name}.{key}", key, field))
    return "\n".join(lines) + "\n"


def _table_item(field: FieldInfo) -> type[BaseModel] | None:
    """The table type of a `list[Section]` field (an array of tables in TOML), else None."""
    args = get_args(field.annotation)
    if get_origin(field.annotation) is list and args and isinstance(args[0], type):
        return args[0] if issubclass(args[0], BaseModel) else None
    return None


def _render_table_list(path: str, key: str, field: FieldInfo) -> list[str]:
    # Commented out: an example is documentation, not a default. Uncommented, it is valid.
    item = _table_item(field)
    assert item is not None
    lines = [f"# {field.description}", f"# {key} = []", "# For example:", f"# [[{path}]]"]
    for sub_key, sub in item.model_fields.items():
        lines.append(f"# # {sub.description}")
        if sub.examples:
            lines.append(f"# {sub_key} = {_toml_value(sub.examples[0])}")
            continue
        value = _default(sub)
        if value is None:
            lines.append(f"# # {sub_key} = {_placeholder(sub)}")
        else:
            lines.append(f"# {sub_key} = {_toml_value(value)}")
    return lines


def _default(field: FieldInfo) -> object:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return None
    return value


def _placeholder(field: FieldInfo) -> str:
    text = str(field.annotation)
    if "Path" in text:
        return '"/run/secrets/..."'
    return '"..."'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))
