"""A command's declared arguments, and the parsed values of one command line.

Positional words are `Arg`s; `key=value` options are `Option`s with a kind that says how
the value is read. The usage line and `!help` are rendered from these declarations.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.errors import Invalid

OPTION = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.DOTALL)
OptionKind = Literal["text", "int", "float", "flag", "list"]
# How a value looks in the usage line when the declaration does not say.
SHAPES: dict[OptionKind, str] = {"text": "…", "int": "N", "float": "X", "list": "a,b"}
TRUE_WORDS = ("1", "true", "yes", "on")


class UsageError(Invalid):
    """Arguments did not fit the command; the dispatcher answers with the usage line."""


@dataclass(frozen=True)
class Arg:
    """A positional argument: `<dataset>`, `[name]`, or the rest of the line (`<prompt>`)."""

    name: str
    optional: bool = False
    rest: bool = False  # takes every remaining word (a prompt); shown last

    def usage(self) -> str:
        """`<name>` or `[name]`."""
        return f"[{self.name}]" if self.optional else f"<{self.name}>"


@dataclass(frozen=True)
class Option:
    """A `key=value` option: its kind, how its value looks, its help and default."""

    key: str
    kind: OptionKind = "text"
    shape: str = ""  # `tiny|small|<model>`; empty: from the kind (`N`, `X`, `…`)
    help: str = ""
    default: object = None  # shown by `!help`; an absent option is simply not given
    required: bool = False
    bare: bool = False  # a flag given as a bare word (`confirm`)
    listed: bool = True  # False: accepted, but the usage line only says `…`

    def usage(self) -> str:
        """`[epochs=N]`, `template="…"`, `[confirm]`."""
        if self.bare:
            return f"[{self.key}]"
        shape = self.shape or ("true" if self.kind == "flag" else SHAPES[self.kind])
        text = f"{self.key}={shape}"
        return text if self.required else f"[{text}]"

    def convert(self, raw: str) -> object:
        """The typed value of `raw`, or a UsageError that says what was expected."""
        try:
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
        except ValueError:
            noun = "an integer" if self.kind == "int" else "a number"
            raise UsageError(f"{self.key} must be {noun}, got {raw!r}") from None
        if self.kind == "flag":
            return raw.lower() in TRUE_WORDS
        if self.kind == "list":
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        return raw


@dataclass(frozen=True)
class Args:
    """Positional words and options of one command line, typed by their declaration."""

    words: tuple[str, ...]
    options: dict[str, str]  # as written, for options passed on as they are
    values: Mapping[str, object]  # converted by each option's kind

    def word(self, index: int, what: str) -> str:
        """A required positional word."""
        if index >= len(self.words):
            raise UsageError(f"missing {what}")
        return self.words[index]

    def optional_word(self, index: int) -> str | None:
        """An optional positional word, None when not given."""
        return self.words[index] if index < len(self.words) else None

    def rest(self, start: int = 0) -> str:
        """The words from `start` on, joined with spaces (e.g. a prompt)."""
        return " ".join(self.words[start:])

    def text(self, key: str) -> str | None:
        """A text option as given."""
        return self.options.get(key)

    def integer(self, key: str) -> int | None:
        """An `int` option, None when not given."""
        value = self.values.get(key)
        return value if isinstance(value, int) else None

    def real(self, key: str) -> float | None:
        """A `float` option, None when not given."""
        value = self.values.get(key)
        return value if isinstance(value, float) else None

    def flag(self, key: str) -> bool:
        """A yes/no option (`skip_invalid=true`) or a bare word (`confirm`)."""
        return self.values.get(key) is True

    def given(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values of the options among `keys` that were given, each of its declared
        kind (keyword arguments for a dataclass declared with the same kinds)."""
        return {key: self.values[key] for key in keys if key in self.values}


def split_line(line: str) -> list[str]:
    """Shell-style words; unreadable quoting is a UsageError."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments: {exc}") from None


def read_args(
    tokens: Sequence[str], args: Sequence[Arg], options: Sequence[Option], any_key: bool
) -> Args:
    """Check `tokens` against the declaration: options by key, the rest positional."""
    declared = {option.key: option for option in options}
    bare = {option.key for option in options if option.bare}
    words: list[str] = []
    raw: dict[str, str] = {}
    for token in tokens:
        match = OPTION.match(token)
        if match and (match["key"] in declared or any_key):
            raw[match["key"]] = match["value"]
        elif match and declared:
            known = ", ".join(declared)
            raise UsageError(f"unknown option {match['key']!r} (known: {known})")
        elif token in bare:
            raw[token] = "true"
        else:
            words.append(token)
    _check_words(words, args)
    values = {key: declared[key].convert(value) for key, value in raw.items() if key in declared}
    return Args(tuple(words), raw, values)


def _check_words(words: Sequence[str], args: Sequence[Arg]) -> None:
    if len(words) < sum(1 for arg in args if not arg.optional):
        raise UsageError("missing arguments")
    if len(words) > len(args) and not any(arg.rest for arg in args):
        stray = words[len(args)]
        raise UsageError(f'unexpected {stray!r}: quote values with spaces, e.g. key="a b"')
