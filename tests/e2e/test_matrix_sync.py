"""The bot hears each new message once: no history, no replays, no strangers' rooms."""

from __future__ import annotations

import asyncio

from .conftest import E2E, BotFactory, MakePerson
from .helpers import invite_bot, is_membership, make_room

pytestmark = E2E


async def test_password_login_is_reused_after_restart(bots: BotFactory) -> None:
    bot = await bots.new()
    devices_before = await bot.connection.client.devices()

    again = await bots.restart(bot)

    devices_after = await again.connection.client.devices()
    assert bot.connection.device_id == again.connection.device_id
    assert {d.id for d in devices_before.devices} == {d.id for d in devices_after.devices}


async def test_bot_joins_on_invite_and_ignores_history(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice = await make_person("alice")
    bot = await bots.new()
    room_id = await make_room(alice)
    await alice.say(room_id, "said before the bot came")

    await invite_bot(alice, room_id, bot.user_id)
    await alice.say(room_id, "!ping")

    heard = await bot.next_message()
    assert ("!ping", alice.user_id, room_id) == (heard.body, heard.sender, heard.room_id)
    await bot.caught_up()
    assert bot.inbox.empty()


async def test_restart_resumes_from_stored_token_without_replay(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice = await make_person("alice")
    bot = await bots.new()
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)
    await alice.say(room_id, "!one")
    assert (await bot.next_message()).body == "!one"

    await bot.stop()
    await alice.say(room_id, "!two (sent while the bot was down)")
    again = await bots.restart(bot)

    assert (await again.next_message()).body == "!two (sent while the bot was down)"
    await again.caught_up()
    assert again.inbox.empty()


async def test_invite_from_stranger_is_rejected(make_person: MakePerson, bots: BotFactory) -> None:
    mallory = await make_person("mallory")
    bot = await bots.new()
    room_id = await make_room(mallory)

    await mallory.client.room_invite(room_id, bot.user_id)

    event = await mallory.wait_for(
        room_id,
        is_membership(bot.user_id, "leave"),
    )
    assert bot.user_id == event["sender"]  # the bot itself declined
    assert room_id not in bot.connection.client.rooms


async def test_notices_and_own_messages_are_not_commands_and_edits_say_what_they_replace(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice = await make_person("alice")
    bot = await bots.new()
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)
    original = await alice.say(room_id, "!train shakespeare")
    assert (await bot.next_message()).body == "!train shakespeare"

    await alice.client.room_send(
        room_id, "m.room.message", {"msgtype": "m.notice", "body": "!status"}
    )
    await alice.say(
        room_id,
        "* !train shakespeare epochs=9",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "!train shakespeare epochs=9"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    await bot.connection.outbox.send(room_id, {"msgtype": "m.text", "body": "!models"})
    await alice.say(room_id, "!status")

    edit = await bot.next_message()
    assert ("!train shakespeare epochs=9", original) == (edit.body, edit.replaces)
    assert (await bot.next_message()).body == "!status"
    await bot.caught_up()
    assert bot.inbox.empty()


async def test_bot_leaves_when_alone(make_person: MakePerson, bots: BotFactory) -> None:
    alice = await make_person("alice")
    bot = await bots.new(leave_when_alone=True)
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)

    await alice.client.room_leave(room_id)

    async with asyncio.timeout(10):
        while room_id in bot.connection.client.rooms:
            await bot.caught_up(1)
    joined = await bot.connection.client.joined_rooms()
    assert room_id not in joined.rooms
