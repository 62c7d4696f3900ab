"""What the demo terminal prints for room events."""

from bot.dev.demo.render import render_event, strip_reply_fallback

BOT = "@trainbot:localhost"


def message(content: dict[str, object], sender: str = BOT) -> dict[str, object]:
    return {"type": "m.room.message", "sender": sender, "content": content}


def test_a_reply_shows_the_answer_without_the_quoted_command() -> None:
    event = message(
        {
            "msgtype": "m.notice",
            "body": "> <@demo:localhost> !models\n\nNo models yet.",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$cmd"}},
        }
    )

    assert "trainbot: No models yet." == render_event(event)


def test_an_edit_is_marked_and_shows_the_new_text() -> None:
    event = message(
        {
            "msgtype": "m.notice",
            "body": "* step 2/60",
            "m.new_content": {"msgtype": "m.notice", "body": "Training demo · step 2/60"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$progress"},
        }
    )

    assert "✎ trainbot: Training demo · step 2/60" == render_event(event)


def test_an_image_shows_its_mxc_uri_and_lines_stay_aligned() -> None:
    image = message({"msgtype": "m.image", "body": "loss.png", "url": "mxc://localhost/abc"})
    table = message({"msgtype": "m.notice", "body": "Models:\ndemo@v1 *"})

    assert "trainbot: [image: mxc://localhost/abc] loss.png" == render_event(image)
    assert "trainbot: Models:\n          demo@v1 *" == render_event(table)


def test_reactions_and_joins_are_shown_other_events_are_not() -> None:
    reaction = {
        "type": "m.reaction",
        "sender": BOT,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "key": "⏳"}},
    }
    join = {"type": "m.room.member", "state_key": BOT, "content": {"membership": "join"}}
    typing = {"type": "m.room.topic", "sender": BOT, "content": {"topic": "x"}}

    assert "* trainbot reacted ⏳" == render_event(reaction)
    assert "* trainbot joined" == render_event(join)
    assert render_event(typing) is None


def test_text_that_merely_starts_with_a_quote_is_kept_when_not_a_reply() -> None:
    event = message({"msgtype": "m.text", "body": "> a quote"}, sender="@demo:localhost")

    assert "demo: > a quote" == render_event(event)
    assert "answer" == strip_reply_fallback("> <@a:b> q\n> more\n\nanswer")
