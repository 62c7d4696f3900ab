"""How people name things: an id, an unambiguous id prefix, `name`, or `name@v3`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Matched with fullmatch: `$` alone would accept a trailing newline ("abc\n"), and a
# name reaches file names and HTTP headers.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VERSIONED = re.compile(r"(?P<name>[^@\s]+)@v?(?P<version>\d+)")
MIN_PREFIX = 3


@dataclass(frozen=True)
class Ref:
    """A parsed reference: `name` with an optional `version`."""

    text: str
    name: str
    version: int | None


def parse_ref(text: str) -> Ref:
    """Split `poems@v3` into name and version; a bare word has no version."""
    text = text.strip()
    match = VERSIONED.fullmatch(text)
    if match:
        return Ref(text, match["name"], int(match["version"]))
    return Ref(text, text, None)


def check_name(name: str, what: str) -> str:
    """A name for a dataset or model: letters, digits, `_ . -`, at most 64 characters."""
    from bot.core.errors import Invalid

    if not NAME_PATTERN.fullmatch(name):
        raise Invalid(
            f"{what} name {name!r} is not allowed: use letters, digits, '_', '.' or '-' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return name


def pick_prefix(kind: str, ref: str, matches: list[str]) -> str | None:
    """The one id a prefix matches; None when none; an error when several do."""
    from bot.core.errors import Invalid

    if len(ref) < MIN_PREFIX or not matches:
        return None
    if len(matches) > 1:
        raise Invalid(f"{kind} id {ref!r} is ambiguous: it matches {', '.join(sorted(matches))}")
    return matches[0]
