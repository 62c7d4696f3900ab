"""Which room events reach the app, and what it learns from them."""

from __future__ import annotations

from typing import Any

from bot.matrix.events import to_incoming
from bot.matrix.rooms import is_allowed


def event(content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e",
        "sender": "@alice:hs",
        "origin_server_ts": 1700,
        "content": content,
        **extra,
    }


def test_text_in_a_thread_knows_its_root_and_reply() -> None:
    relates = {"rel_type": "m.thread", "event_id": "$root", "m.in_reply_to": {"event_id": "$prev"}}

    message = to_incoming(
        "!r", event({"msgtype": "m.text", "body": "!status", "m.relates_to": relates})
    )

    assert message is not None
    assert (message.kind, message.body, message.thread_root, message.reply_to) == (
        "text",
        "!status",
        "$root",
        "$prev",
    )


def test_an_edit_arrives_with_the_new_content_and_the_id_it_replaces() -> None:
    edit = {
        "msgtype": "m.text",
        "body": "* !train demo epochs=2",
        "m.new_content": {"msgtype": "m.text", "body": "!train demo epochs=2"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"},
    }

    message = to_incoming("!r", event(edit))

    assert message is not None
    assert ("$e", "$a", "!train demo epochs=2", None) == (
        message.event_id,
        message.replaces,
        message.body,
        message.thread_root,
    )


def test_a_plain_message_replaces_nothing() -> None:
    message = to_incoming("!r", event({"msgtype": "m.text", "body": "!status"}))

    assert message is not None
    assert message.replaces is None


def test_notices_broken_edits_and_other_types_are_dropped() -> None:
    no_new_content = {
        "msgtype": "m.text",
        "body": "* x",
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"},
    }
    edit_into_notice = {
        **no_new_content,
        "m.new_content": {"msgtype": "m.notice", "body": "!status"},
    }

    assert to_incoming("!r", event({"msgtype": "m.notice", "body": "!status"})) is None
    assert to_incoming("!r", event(no_new_content)) is None
    assert to_incoming("!r", event(edit_into_notice)) is None
    assert to_incoming("!r", event({"msgtype": "m.emote", "body": "waves"})) is None
    assert to_incoming("!r", event({"key": "x"}, type="m.reaction")) is None


def test_encrypted_file_keeps_its_decryption_info() -> None:
    file_info = {"url": "mxc://hs/abc", "key": {"k": "K"}, "iv": "IV", "hashes": {"sha256": "H"}}
    content = {"msgtype": "m.file", "body": "data.csv", "file": file_info, "info": {"size": 12}}

    message = to_incoming("!r", event(content), encrypted=True)

    assert message is not None
    assert (message.kind, message.url, message.filename, message.size) == (
        "file",
        "mxc://hs/abc",
        "data.csv",
        12,
    )
    assert message.file_info == file_info


def test_allowed_users_are_matched_by_glob() -> None:
    globs = ["@*:example.org", "@ops:other.org"]

    assert is_allowed("@alice:example.org", globs)
    assert is_allowed("@ops:other.org", globs)
    assert not is_allowed("@alice:other.org", globs)
    assert not is_allowed("@alice:example.org.evil", globs)
    assert not is_allowed("@alice:example.org", [])
