"""Message content builders: replies the bot sends, and tables readable in any client."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.matrix.types import IncomingMessage

HTML_FORMAT = "org.matrix.custom.html"
# A zero-width joiner inside "@room" (in any casing: clients match it without case) stops
# clients from treating it as a room ping.
_ROOM_PING = re.compile(r"@(room)", re.IGNORECASE)
_DEFUSED_ROOM_PING = "@\u200d\\1"


@dataclass(frozen=True)
class Formatted:
    """The same message as plain text and as HTML; build with `text()` or `table()`."""

    plain: str
    html: str

    def __add__(self, other: Formatted) -> Formatted:
        return Formatted(self.plain + other.plain, self.html + other.html)


def escape(value: str, *, breaks: bool = True) -> str:
    """Text made safe inside HTML (quotes too); with `breaks`, line breaks become `<br>`.

    The one HTML-escaping helper of the room face.
    """
    escaped = html.escape(value)
    return escaped.replace("\n", "<br>") if breaks else escaped


def text(value: str) -> Formatted:
    """Untrusted text (user input, file names) made safe for both bodies."""
    return Formatted(value, escape(value))


def bold(value: str) -> Formatted:
    """Untrusted text shown in bold (e.g. what the model wrote)."""
    return Formatted(value, f"<b>{escape(value)}</b>")


def pre(value: str) -> Formatted:
    """Preformatted text (a statistics block) kept as it is in both bodies."""
    return Formatted(value, f"<pre>{escape(value, breaks=False)}</pre>")


_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_ITALIC = re.compile(r"(?<![*\w])_([^_\n]+)_(?![\w])")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def markdown(value: str) -> Formatted:
    """A small, safe markdown subset (`code`, **bold**, _italic_, [text](https://…),
    line breaks) for notices other parts queue; everything else stays literal text.

    The text is HTML-escaped first, so no markup in it reaches the HTML body.
    """
    rendered = escape(value.replace("\x00", ""), breaks=False)  # quotes too: safe inside href="…"
    codes: list[str] = []

    def keep_code(match: re.Match[str]) -> str:
        codes.append(f"<code>{match[1]}</code>")
        return f"\x00{len(codes) - 1}\x00"

    rendered = _CODE.sub(keep_code, rendered)  # nothing inside `code` is formatted
    rendered = _BOLD.sub(r"<strong>\1</strong>", rendered)
    rendered = _ITALIC.sub(r"<em>\1</em>", rendered)
    rendered = _LINK.sub(lambda m: f'<a href="{m[2]}">{m[1]}</a>', rendered)
    rendered = re.sub("\x00(\\d+)\x00", lambda m: codes[int(m[1])], rendered)
    return Formatted(value, rendered.replace("\n", "<br>"))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> Formatted:
    """An HTML `<table>` and, for plain clients, columns padded to equal width."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    plain = "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])
    head = "".join(f"<th>{escape(h, breaks=False)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell, breaks=False)}</td>" for cell in row) + "</tr>"
        for row in cells
    )
    return Formatted(
        plain.rstrip(), f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def notice(message: Formatted | str, *, mentions: Sequence[str] = ()) -> dict[str, Any]:
    """An m.notice (bots send notices so other bots do not answer them)."""
    formatted = text(message) if isinstance(message, str) else message
    return {
        "msgtype": "m.notice",
        "body": _defuse(formatted.plain),
        "format": HTML_FORMAT,
        "formatted_body": _defuse(formatted.html),
        # Always present: without it clients fall back to scanning the body for pings.
        "m.mentions": {"user_ids": list(mentions)},
    }


def reply(to: IncomingMessage, message: Formatted | str) -> dict[str, Any]:
    """A notice answering `to`: quoted reply, in the same thread, mentioning only its sender."""
    content = notice(message, mentions=[to.sender])
    relates_to: dict[str, Any] = {"m.in_reply_to": {"event_id": to.event_id}}
    if to.thread_root is not None:
        # A real reply inside the thread, hence is_falling_back false.
        relates_to |= {"rel_type": "m.thread", "event_id": to.thread_root, "is_falling_back": False}
    content["m.relates_to"] = relates_to
    return content


def edit(event_id: str, new_content: dict[str, Any]) -> dict[str, Any]:
    """An m.replace of `event_id`; clients without edit support show the `* ` fallback."""
    fallback = {key: value for key, value in new_content.items() if key != "m.relates_to"}
    content = dict(fallback)
    content["body"] = f"* {fallback.get('body', '')}"
    if "formatted_body" in fallback:
        content["formatted_body"] = f"* {fallback['formatted_body']}"
    content["m.new_content"] = fallback
    if "m.mentions" in fallback:
        # Mentions on the outer event would ping again on every progress edit.
        content["m.mentions"] = {}
    content["m.relates_to"] = {"rel_type": "m.replace", "event_id": event_id}
    return content


def reaction(event_id: str, key: str) -> dict[str, Any]:
    """An m.reaction annotating `event_id` with `key` (usually an emoji)."""
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def image(
    url: str,
    filename: str,
    *,
    width: int,
    height: int,
    size: int,
    keys: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An m.image for an uploaded PNG (e.g. a loss curve).

    With `keys` (an encrypted upload) the URL goes inside `file` with the keys, as the
    spec's EncryptedFile, instead of a plain `url`.
    """
    info = {"mimetype": "image/png", "w": width, "h": height, "size": size}
    content: dict[str, Any] = {
        "msgtype": "m.image",
        "body": filename,
        "info": info,
        "m.mentions": {},
    }
    if keys:
        content["file"] = {"url": url, **keys}
    else:
        content["url"] = url
    return content


def _defuse(value: str) -> str:
    return _ROOM_PING.sub(_DEFUSED_ROOM_PING, value)
