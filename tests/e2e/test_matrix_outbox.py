"""What people in the room see when the bot talks: order, edits, replies, files."""

from __future__ import annotations

import asyncio
import io

from nio import UploadResponse

from bot.matrix import format as fmt

from .bots import TestBot
from .conftest import E2E, BotFactory, MakePerson, limit_messages
from .helpers import Person, body_is, invite_bot, make_room

pytestmark = E2E

# A burst of 3 messages, then 10 per second: 20 messages must meet 429s.
PER_SECOND, BURST = 10, 3


async def test_outbox_delivers_in_order_through_rate_limits(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice = await make_person("alice")
    bot = await bots.new()
    await limit_messages(bots.synapse, bot.user_id, PER_SECOND, BURST)  # before it sends
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)

    sent = [bot.connection.outbox.send(room_id, fmt.notice(f"line {i}")) for i in range(20)]
    await asyncio.wait_for(asyncio.gather(*sent), 60)

    bodies = [e["content"]["body"] for e in await alice.messages(room_id, bot.user_id)]
    assert bodies == [f"line {i}" for i in range(20)]
    assert bot.connection.outbox.rate_limited > 0


async def bot_in_room_with(
    make_person: MakePerson, bots: BotFactory
) -> tuple[Person, TestBot, str]:
    alice = await make_person("alice")
    bot = await bots.new()
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)
    return alice, bot, room_id


async def test_queued_progress_edits_coalesce_into_the_newest(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice, bot, room_id = await bot_in_room_with(make_person, bots)
    outbox = bot.connection.outbox
    progress = await outbox.send(room_id, fmt.notice("training: step 0"))

    edits = [
        outbox.edit(room_id, progress, fmt.notice(f"training: step {i}")) for i in range(1, 11)
    ]
    await asyncio.gather(*edits)
    await outbox.send(room_id, fmt.notice("done"))
    await outbox.react(room_id, progress, "✅")

    seen = await alice.messages(room_id, bot.user_id)
    replacements = [e["content"] for e in seen if "m.new_content" in e["content"]]
    assert [c["m.new_content"]["body"] for c in replacements] == ["training: step 10"]
    assert replacements[0]["body"] == "* training: step 10"
    assert replacements[0]["m.relates_to"] == {"rel_type": "m.replace", "event_id": progress}
    assert seen[-1]["content"]["body"] == "done"
    reactions = await alice.messages(room_id, bot.user_id, "m.reaction")
    assert [r["content"]["m.relates_to"]["key"] for r in reactions] == ["✅"]


async def test_reply_in_thread_mentions_only_the_sender_and_escapes_text(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice, bot, room_id = await bot_in_room_with(make_person, bots)
    root = await alice.say(room_id, "training thread")
    await alice.say(
        room_id,
        "!train <b>x</b> @room",
        **{"m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True}},
    )
    assert (await bot.next_message()).body == "training thread"
    command = await bot.next_message()

    bot.connection.outbox.send(room_id, fmt.reply(command, f"unknown dataset {command.body}"))

    reply = await alice.wait_for(room_id, lambda e: e["sender"] == bot.user_id)
    content = reply["content"]
    assert content["msgtype"] == "m.notice"
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": False,
        "m.in_reply_to": {"event_id": command.event_id},
    }
    assert content["m.mentions"] == {"user_ids": [alice.user_id]}
    assert content["body"] == "unknown dataset !train <b>x</b> @\u200droom"
    assert content["formatted_body"] == "unknown dataset !train &lt;b&gt;x&lt;/b&gt; @\u200droom"


async def test_file_upload_reaches_the_app_and_downloads(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice, bot, room_id = await bot_in_room_with(make_person, bots)
    data = b'{"text": "to be or not to be"}\n'
    upload, _ = await alice.client.upload(
        io.BytesIO(data), "application/jsonl", "lines.jsonl", filesize=len(data)
    )
    assert isinstance(upload, UploadResponse)
    file_event = await alice.say(
        room_id,
        "lines.jsonl",
        msgtype="m.file",
        url=upload.content_uri,
        info={"mimetype": "application/jsonl", "size": len(data)},
    )
    await alice.say(
        room_id,
        "!dataset add poems",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": file_event}}},
    )

    file_message = await bot.next_message()
    command = await bot.next_message()
    assert (file_message.kind, file_message.filename, file_message.size) == (
        "file",
        "lines.jsonl",
        len(data),
    )
    assert command.reply_to == file_event
    replied_to = await bot.connection.fetch_event(room_id, file_event)
    assert replied_to is not None
    assert replied_to.url == upload.content_uri
    assert await bot.connection.download(upload.content_uri) == data


async def test_bot_types_then_posts_an_image_people_can_fetch(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice, bot, room_id = await bot_in_room_with(make_person, bots)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

    bot.connection.outbox.typing(room_id, True)
    await alice.wait_until_typing(room_id, bot.user_id)

    url, keys = await bot.connection.outbox.upload_image(png, "loss.png")
    assert keys is None  # a plain room gets a plain upload
    await bot.connection.outbox.send(
        room_id, fmt.image(url, "loss.png", width=1, height=1, size=len(png))
    )

    event = await alice.wait_for(room_id, body_is("loss.png"))
    downloaded = await alice.client.download(mxc=event["content"]["url"])
    assert downloaded.body == png
