"""Turn raw room events into `IncomingMessage`s, dropping what the app must not see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.matrix.types import IncomingMessage


def to_incoming(
    room_id: str, source: Mapping[str, Any], *, encrypted: bool = False
) -> IncomingMessage | None:
    """The message in a (decrypted) m.room.message event, or None if it is not for the app.

    Dropped: notices (bots answer bots otherwise, possibly forever) and anything that is
    neither m.text nor m.file. An edit (`m.replace`) arrives with `replaces` set and the
    edit's `m.new_content` as its content; whether it runs is the app's decision.
    """
    if source.get("type") != "m.room.message":
        return None
    content = source.get("content")
    if not isinstance(content, Mapping):
        return None
    relates_to = content.get("m.relates_to")
    relates_to = relates_to if isinstance(relates_to, Mapping) else {}
    replaces = None
    if relates_to.get("rel_type") == "m.replace":
        new_content = content.get("m.new_content")
        if not isinstance(new_content, Mapping) or "event_id" not in relates_to:
            return None
        # The edit's own body is a "* " fallback; the new text is in m.new_content, and the
        # new content's relations (thread, reply) are those of the original message.
        replaces = str(relates_to["event_id"])
        content, relates_to = new_content, {}
    msgtype = content.get("msgtype")
    if msgtype not in ("m.text", "m.file"):
        return None
    in_reply_to = relates_to.get("m.in_reply_to")
    file_info = content.get("file") if isinstance(content.get("file"), Mapping) else None
    info: Mapping[str, Any] = content["info"] if isinstance(content.get("info"), Mapping) else {}
    return IncomingMessage(
        room_id=room_id,
        event_id=str(source["event_id"]),
        sender=str(source["sender"]),
        kind="text" if msgtype == "m.text" else "file",
        body=str(content.get("body", "")),
        timestamp_ms=int(source.get("origin_server_ts", 0)),
        thread_root=(
            str(relates_to["event_id"]) if relates_to.get("rel_type") == "m.thread" else None
        ),
        reply_to=(
            str(in_reply_to["event_id"])
            if isinstance(in_reply_to, Mapping) and "event_id" in in_reply_to
            else None
        ),
        replaces=replaces,
        # An encrypted attachment keeps its URL inside the `file` object.
        url=_str_or_none(file_info["url"] if file_info else content.get("url")),
        filename=_str_or_none(content.get("filename") or content.get("body")),
        mimetype=_str_or_none(info.get("mimetype")),
        size=int(info["size"]) if isinstance(info.get("size"), int) else None,
        file_info=file_info,
        encrypted=encrypted,
        content=content,
    )


def _str_or_none(value: object) -> str | None:
    return str(value) if value is not None else None
