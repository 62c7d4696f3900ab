"""Message contents as the bot builds them (what any client will render)."""

from __future__ import annotations

from bot.core.notifications import Notice
from bot.matrix import IncomingMessage
from bot.matrix import format as fmt
from bot.room.face import notice_content


def command(**overrides: object) -> IncomingMessage:
    fields: dict[str, object] = {
        "room_id": "!r:hs",
        "event_id": "$cmd",
        "sender": "@alice:hs",
        "kind": "text",
        "body": "!models",
        "timestamp_ms": 1,
    }
    return IncomingMessage(**(fields | overrides))  # type: ignore[arg-type]


def test_table_aligns_plain_columns_and_escapes_html() -> None:
    table = fmt.table(["model", "loss"], [["tiny<v2>", 1.25], ["gpt2", 0.5]])

    assert table.plain.splitlines() == [
        "model     loss",
        "--------  ----",
        "tiny<v2>  1.25",
        "gpt2      0.5",
    ]
    assert table.html == (
        "<table><thead><tr><th>model</th><th>loss</th></tr></thead><tbody>"
        "<tr><td>tiny&lt;v2&gt;</td><td>1.25</td></tr>"
        "<tr><td>gpt2</td><td>0.5</td></tr></tbody></table>"
    )


def test_reply_outside_a_thread_only_quotes_the_command() -> None:
    content = fmt.reply(command(), fmt.text("two models\n") + fmt.table(["id"], [["m1"]]))

    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert content["m.mentions"] == {"user_ids": ["@alice:hs"]}
    assert content["body"] == "two models\nid\n--\nm1"
    assert content["formatted_body"].startswith("two models<br><table>")


def test_room_pings_are_defused_in_both_bodies() -> None:
    content = fmt.notice("hello @room")

    assert content["body"] == "hello @\u200droom"
    assert content["formatted_body"] == "hello @\u200droom"
    assert content["m.mentions"] == {"user_ids": []}


def test_edit_carries_new_content_and_does_not_ping_again() -> None:
    new = fmt.reply(command(), "step 7/10")

    content = fmt.edit("$progress", new)

    assert content["body"] == "* step 7/10"
    assert content["formatted_body"] == "* step 7/10"
    assert content["m.mentions"] == {}
    assert content["m.new_content"]["m.mentions"] == {"user_ids": ["@alice:hs"]}
    assert "m.relates_to" not in content["m.new_content"]
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$progress"}


def test_markdown_notices_render_a_safe_subset() -> None:
    source = "Fetched **news**: `12 new` items, see [the log](https://example.org/a?b=1&c=2)\n_ok_"
    rendered = fmt.markdown(source)
    assert source == rendered.plain
    assert rendered.html == (
        "Fetched <strong>news</strong>: <code>12 new</code> items, see "
        '<a href="https://example.org/a?b=1&amp;c=2">the log</a><br><em>ok</em>'
    )
    hostile = fmt.markdown('<img src=x> **`<b>`** [x](https://a"onclick="alert(1)) snake_case_name')
    assert "<img" not in hostile.html and "<b>" not in hostile.html
    assert 'href="https://a&quot;onclick=&quot;alert(1"' in hostile.html
    assert "snake_case_name" in hostile.html  # underscores inside words are not italics
    assert "\x00" not in fmt.markdown("a\x000\x00 `c`").html


PROBE = "[Re-verify your account](https://evil.example/login) **now** @ROOM"


def test_third_party_text_in_a_notice_is_plain_and_cannot_ping_the_room() -> None:
    queued = Notice("n1", "!r:hs", f"⚠️ Source news: the fetch failed.\n{PROBE}", "source:x", 1.0)

    content = notice_content(queued)

    assert "@\u200dROOM" in content["body"] and "@ROOM" not in content["body"]
    assert (
        "⚠️ Source news: the fetch failed.<br>[Re-verify your account]"
        "(https://evil.example/login) **now** @\u200dROOM"
    ) == content["formatted_body"]  # no link, no bold: the words as they were written
    assert {"user_ids": []} == content["m.mentions"]


def test_only_the_bots_own_markdown_notices_render() -> None:
    own = Notice("n2", "!r:hs", "Retraining **news**", "schedule:news", 1.0, markdown=True)

    assert "Retraining <strong>news</strong>" == notice_content(own)["formatted_body"]


def test_room_pings_are_defused_in_any_casing() -> None:
    content = fmt.notice("@room @Room @rOOm @ROOM")

    assert "@\u200droom @\u200dRoom @\u200drOOm @\u200dROOM" == content["body"]
    assert content["body"] == content["formatted_body"]
