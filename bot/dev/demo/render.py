"""How the terminal shows a room event: one line per event, edits marked with "✎ "."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

EDIT_MARK = "✎ "


def render_event(event: Event) -> str | None:
    """The text printed for a raw room event, or None for events not worth showing."""
    kind = event.get("type")
    content = event.get("content") or {}
    who = display_name(str(event.get("sender", "?")))
    if kind == "m.room.message":
        return _message(who, content)
    if kind == "m.reaction":
        key = content.get("m.relates_to", {}).get("key", "?")
        return f"* {who} reacted {key}"
    if kind == "m.room.member":
        return _membership(display_name(str(event.get("state_key", "?"))), content)
    return None


def display_name(user_id: str) -> str:
    """`@trainbot:localhost` → `trainbot`."""
    return user_id.removeprefix("@").split(":", 1)[0]


def strip_reply_fallback(body: str) -> str:
    """Drop the `> <@user> quoted text` lines a reply starts with (shown elsewhere)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


def _message(who: str, content: dict[str, Any]) -> str | None:
    new = content.get("m.new_content")
    relates = content.get("m.relates_to") or {}
    if isinstance(new, dict) and relates.get("rel_type") == "m.replace":
        return _lines(EDIT_MARK + who, _body(new))
    body = _body(content)
    if "m.in_reply_to" in relates:
        body = strip_reply_fallback(body)
    return _lines(who, body)


def _body(content: dict[str, Any]) -> str:
    msgtype = content.get("msgtype")
    body = str(content.get("body", ""))
    if msgtype in ("m.image", "m.file", "m.audio", "m.video"):
        return f"[{msgtype.removeprefix('m.')}: {content.get('url', '?')}] {body}".rstrip()
    return body


def _membership(who: str, content: dict[str, Any]) -> str | None:
    verbs = {"join": "joined", "leave": "left", "invite": "was invited", "ban": "was banned"}
    verb = verbs.get(str(content.get("membership")))
    return f"* {who} {verb}" if verb else None


def _lines(prefix: str, body: str) -> str:
    # Continuation lines line up under the first, so a table stays a table.
    indent = " " * (len(prefix) + 2)
    first, *rest = body.split("\n") or [""]
    return "\n".join([f"{prefix}: {first}", *(indent + line for line in rest)])
