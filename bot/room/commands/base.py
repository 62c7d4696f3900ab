"""How a command is declared, parsed and answered (the maubot shape, without its globals).

A command is a small async function wrapped by `@command(...)`, which returns an
immutable `Command` holding its name, help, example, permission level, its positional
`Arg`s, its `key=value` `Option`s and its subcommands. The usage line, `!help` and the
README's command table are all rendered from these declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from bot.matrix.format import Formatted
from bot.room.commands.args import Arg, Args, Option, UsageError, read_args, split_line
from bot.room.origin import ACK_REACTION, FAILED_REACTION, Origin
from bot.room.text import code_spans

if TYPE_CHECKING:
    from bot.core.services import Services
    from bot.matrix.types import IncomingMessage
    from bot.room.follow import Follow
    from bot.room.ports import Room
    from bot.settings import Settings
    from storage.data_tasks import DataTaskRow

__all__ = [
    "ACK_REACTION",
    "FAILED_REACTION",
    "Arg",
    "Args",
    "Command",
    "CommandContext",
    "Option",
    "Reply",
    "UsageError",
]

Level = Literal["user", "admin"]
PREFIX = "{prefix}"  # stands for `matrix.command_prefix` in help texts


@dataclass(frozen=True)
class Need:
    """A setting a command needs: `!help` lists the command only once it is set, and says
    which setting makes it available otherwise."""

    setting: str  # how an operator sets it, e.g. "[openai] api_key"
    met: Callable[[Settings], bool]


OPENAI_KEY = Need(
    "[openai] api_key",
    lambda settings: (
        settings.openai.api_key is not None or settings.openai.api_key_file is not None
    ),
)


@dataclass
class Reply:
    """What a command answers: a notice in reply to the command; `react` is the reaction
    that replaces ⏳ when the answer ends the command's work (❌ for a failure, else ✅)."""

    message: Formatted
    react: str | None = None

    @classmethod
    def notice(cls, message: Formatted | str, react: str | None = None) -> Reply:
        """A reply from plain text (escaped; `code` spans shown as code) or a pre-formatted
        message."""
        return cls(code_spans(message) if isinstance(message, str) else message, react)


@dataclass
class CommandContext:
    """Everything a command needs: the services, who asked, where, and the room face."""

    services: Services
    settings: Settings
    message: IncomingMessage
    is_admin: bool
    room: Room
    follow: Follow
    commands: Sequence[Command] = field(default_factory=tuple)
    acknowledged: bool = False  # ⏳ is on the command
    continues: bool = False  # its work goes on after the answer (a job or task follows)

    @property
    def sender(self) -> str:
        """The Matrix user who sent the command."""
        return self.message.sender

    @property
    def prefix(self) -> str:
        """The configured command prefix (`!` unless `matrix.command_prefix` says else)."""
        return self.settings.matrix.command_prefix

    def acknowledge(self) -> None:
        """Put ⏳ on the command (once): seen, working on it."""
        if not self.acknowledged:
            self.room.react(self.message.room_id, self.message.event_id, ACK_REACTION)
            self.acknowledged = True

    async def follow_job(self, job_id: str) -> None:
        """The job goes on after the answer: ⏳ until it ends, its messages in this thread."""
        self.acknowledge()
        self.continues = True
        await self.follow.job(job_id, Origin.of(self.message))

    async def follow_task(self, task: DataTaskRow) -> None:
        """The data task goes on after the answer, followed like a job."""
        self.acknowledge()
        self.continues = True
        await self.follow.task(task, Origin.of(self.message))


Handler = Callable[[CommandContext, Args], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    """A declared command or subcommand; `route` and `parse` a line, then call `handler`."""

    name: str
    help: str
    example: str
    handler: Handler | None  # None: a subcommand must be given
    level: Level = "user"
    args: tuple[Arg, ...] = ()
    options: tuple[Option, ...] = ()
    extra: str = ""  # other `key=value` pairs are accepted too; the usage shows this
    subcommands: tuple[Command, ...] = ()
    slow: bool = False  # acknowledged with a reaction before it runs
    path: str = ""  # `dataset add` for a subcommand; the name otherwise
    needs: Need | None = None  # a setting without which it only says what to set

    @property
    def usage(self) -> str:
        """The arguments part of the usage line, rendered from the declaration."""
        if self.subcommands:
            choices = " | ".join(f"{sub.name} {sub.usage}".rstrip() for sub in self.subcommands)
            return f"[{choices}]" if self.handler else choices
        parts = [arg.usage() for arg in self.args if not arg.rest]
        parts += [option.usage() for option in self.options if option.required]
        parts += [self.extra] if self.extra else []
        parts += _listed([o for o in self.options if not o.required and not o.bare])
        parts += [option.usage() for option in self.options if option.bare]
        parts += [arg.usage() for arg in self.args if arg.rest]
        return " ".join(parts)

    def usage_line(self, prefix: str) -> str:
        """`!train <dataset> [epochs=N] …`."""
        return f"{prefix}{self.path or self.name} {self.usage}".rstrip()

    def help_text(self, prefix: str) -> str:
        """The help sentence with the configured prefix."""
        return self.help.replace(PREFIX, prefix)

    def route(self, line: str | Sequence[str]) -> tuple[Command, Sequence[str]]:
        """The (sub)command a line is for, and the words left for it."""
        tokens = split_line(line) if isinstance(line, str) else line
        if not self.subcommands or (not tokens and self.handler):
            return self, tokens
        if not tokens:
            raise UsageError("missing arguments")
        found = next((sub for sub in self.subcommands if sub.name == tokens[0]), None)
        if found is None:
            names = [sub.name for sub in self.subcommands]
            choices = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise UsageError(f"unknown subcommand {tokens[0]!r}: use {choices}")
        return found.route(tokens[1:])

    def parse(self, tokens: Sequence[str]) -> Args:
        """Check the words against the declared arguments and options."""
        return read_args(tokens, self.args, self.options, any_key=bool(self.extra))

    def example_line(self, prefix: str) -> str:
        """`!train stories epochs=2`."""
        return f"{prefix}{self.example}"


def _listed(options: Sequence[Option]) -> list[str]:
    """Usage of the listed options; one `…` where the first unlisted one is declared."""
    parts: list[str] = []
    for option in options:
        if option.listed:
            parts.append(option.usage())
        elif "…" not in parts:
            parts.append("…")
    return parts


def command(
    name: str,
    *,
    help: str,
    example: str,
    level: Level = "user",
    args: Sequence[Arg] = (),
    options: Sequence[Option] = (),
    extra: str = "",
    subcommands: Sequence[Command] = (),
    slow: bool = False,
    needs: Need | None = None,
) -> Callable[[Handler | None], Command]:
    """Declare a command; the decorated function becomes a `Command` (`subcommand` too)."""

    def wrap(handler: Handler | None) -> Command:
        subs = tuple(replace(sub, path=f"{name} {sub.name}") for sub in subcommands)
        declared = tuple(args), tuple(options), extra, subs, slow
        return Command(name, help, example, handler, level, *declared, needs=needs)

    return wrap


subcommand = command


def group(
    name: str,
    *,
    help: str,
    example: str,
    subcommands: Sequence[Command],
    level: Level = "user",
    slow: bool = False,
) -> Command:
    """A command that only has subcommands (`!dataset add|stats|generate`)."""
    return command(
        name, help=help, example=example, level=level, subcommands=subcommands, slow=slow
    )(None)


def options_dict(args: Args, names: Sequence[str]) -> dict[str, str]:
    """The given options among `names` as written (e.g. hyperparameters for a job)."""
    return {key: value for key, value in args.options.items() if key in names}
