"""How a command is declared, parsed and answered (the maubot shape, without its globals).

A command is a small async function wrapped by `@command(...)`, which returns an
immutable `Command` holding the name, usage, help, example, permission level and the
`key=value` options it accepts. `!help` is generated from the same declarations.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.core.errors import Invalid
from bot.matrix.format import Formatted, text

if TYPE_CHECKING:
    from bot.core.services import Services
    from bot.matrix.types import IncomingMessage
    from bot.settings import Settings

Level = Literal["user", "admin"]
OPTION = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.DOTALL)
ANY_KEY = "*"


class UsageError(Invalid):
    """Arguments did not fit the command; the dispatcher answers with the usage line."""


@dataclass(frozen=True)
class Args:
    """Positional words and `key=value` options of one command line."""

    words: tuple[str, ...]
    options: dict[str, str]

    def word(self, index: int, what: str) -> str:
        """A required positional word."""
        if index >= len(self.words):
            raise UsageError(f"missing {what}")
        return self.words[index]

    def rest(self, start: int = 0) -> str:
        """The words from `start` on, joined with spaces (e.g. a prompt)."""
        return " ".join(self.words[start:])

    def number(self, key: str, kind: type[int] | type[float], default: Any = None) -> Any:
        """An option converted to int or float, with a readable error."""
        if key not in self.options:
            return default
        try:
            return kind(self.options[key])
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise UsageError(f"{key} must be {noun}, got {self.options[key]!r}") from None

    def flag(self, key: str) -> bool:
        """A yes/no option (`skip_invalid=true`) or a bare word (`confirm`)."""
        value = self.options.get(key, "")
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        return key in self.words


@dataclass
class Reply:
    """What a command answers: a notice in reply to the command, optionally a reaction."""

    message: Formatted
    react: str | None = None

    @classmethod
    def notice(cls, message: Formatted | str, react: str | None = None) -> Reply:
        """A reply from plain text (escaped) or a pre-formatted message."""
        return cls(text(message) if isinstance(message, str) else message, react)


@dataclass
class CommandContext:
    """Everything a command needs: the services, who asked, where, and the room face."""

    services: Services
    settings: Settings
    message: IncomingMessage
    is_admin: bool
    room: Any  # the Matrix face: download(), typing(), fetch_event()
    commands: Sequence[Command] = field(default_factory=tuple)

    @property
    def sender(self) -> str:
        """The Matrix user who sent the command."""
        return self.message.sender


Handler = Callable[[CommandContext, Args], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    """A declared command; call `parse` then `handler`."""

    name: str
    usage: str
    help: str
    example: str
    handler: Handler
    level: Level = "user"
    keys: tuple[str, ...] = ()
    min_words: int = 0
    slow: bool = False  # acknowledged with a reaction before it runs

    def parse(self, line: str) -> Args:
        """Split shell-style; `key=value` for declared keys, everything else positional."""
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot read the arguments: {exc}") from None
        words: list[str] = []
        options: dict[str, str] = {}
        for token in tokens:
            match = OPTION.match(token)
            if match and (match["key"] in self.keys or ANY_KEY in self.keys):
                options[match["key"]] = match["value"]
            elif match and self.keys:
                raise UsageError(f"unknown option {match['key']!r} (known: {', '.join(self.keys)})")
            else:
                words.append(token)
        if len(words) < self.min_words:
            raise UsageError("missing arguments")
        return Args(tuple(words), options)

    def usage_line(self, prefix: str) -> str:
        """`!train <dataset> [epochs=N] …`."""
        return f"{prefix}{self.name} {self.usage}".rstrip()


def command(
    name: str,
    *,
    usage: str,
    help: str,
    example: str,
    level: Level = "user",
    keys: Sequence[str] = (),
    min_words: int = 0,
    slow: bool = False,
) -> Callable[[Handler], Command]:
    """Declare a command; the decorated function becomes a `Command`."""

    def wrap(handler: Handler) -> Command:
        return Command(name, usage, help, example, handler, level, tuple(keys), min_words, slow)

    return wrap


def options_dict(args: Args, names: Sequence[str]) -> dict[str, str]:
    """The given options among `names` (e.g. hyperparameters for a job request)."""
    return {key: value for key, value in args.options.items() if key in names}
