"""The bot rides out a homeserver restart and messages it cannot decrypt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nio import AsyncClientConfig, EnableEncryptionBuilder

from bot.dev.homeserver import SynapseServer
from bot.matrix import format as fmt

from .conftest import E2E, PASSWORD, BotFactory, MakePerson, unique
from .helpers import Person, invite_bot, login, make_room

pytestmark = E2E


async def test_homeserver_restart_loses_nothing(
    synapse: SynapseServer, make_person: MakePerson, bots: BotFactory
) -> None:
    # The shared homeserver, restarted on its kept folder (cheaper than a second one).
    alice = await make_person("alice")
    bot = await bots.new(max_backoff_s=1.0)
    room_id = await make_room(alice)
    await invite_bot(alice, room_id, bot.user_id)

    try:
        await synapse.stop()
        queued = [
            bot.connection.outbox.send(room_id, fmt.notice(f"epoch {i} done")) for i in range(3)
        ]
        await asyncio.sleep(1.5)  # the sync loop and the outbox both meet a dead server
    finally:
        await synapse.start()  # whatever happened, the next tests get their homeserver

    await asyncio.wait_for(asyncio.gather(*queued), 30)
    bodies = [e["content"]["body"] for e in await alice.messages(room_id, bot.user_id)]
    assert bodies == ["epoch 0 done", "epoch 1 done", "epoch 2 done"]
    await alice.say(room_id, "!status")
    assert (await bot.next_message(within_s=30)).body == "!status"


async def test_undecryptable_message_is_reported_once_per_session(
    make_person: MakePerson, bots: BotFactory
) -> None:
    alice = await make_person("alice")
    bot = await bots.new(e2ee=True)
    room_id = await make_room(alice, initial_state=[EnableEncryptionBuilder().as_dict()])
    await invite_bot(alice, room_id, bot.user_id)

    for session in ("lost-session-1", "lost-session-1", "lost-session-2"):
        # Ciphertext from a megolm session the bot never received a key for.
        await alice.client.room_send(room_id, "m.room.encrypted", garbled(session))
    await alice.say(room_id, "!status")

    assert (await bot.next_message()).body == "!status"
    await bot.caught_up()
    # Unencrypted although the room is encrypted: broken keys must not hide the notice.
    notices = [e["content"]["body"] for e in await alice.messages(room_id, bot.user_id)]
    assert len(notices) == 2
    assert all("could not decrypt" in body and "send the message again" in body for body in notices)


def garbled(session_id: str) -> dict[str, str]:
    return {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnB4dW5zb2x2YWJsZQ",
        "sender_key": "XUIqcSpXxGZ+3Y+0B2h0w0+qR4hLbn3p2NnS5jPbVzU",
        "device_id": "ALICEDEVICE",
        "session_id": session_id,
    }


async def test_encrypted_room_round_trip(
    synapse: SynapseServer, bots: BotFactory, tmp_path: Path
) -> None:
    alice_id, _ = await synapse.register_user(unique("alice"), PASSWORD)
    (tmp_path / "alice").mkdir()
    alice = Person(
        await login(
            synapse.base_url,
            alice_id,
            PASSWORD,
            store_path=str(tmp_path / "alice"),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
    )
    try:
        await alice.client.keys_upload()
        bot = await bots.new(e2ee=True)
        room_id = await make_room(alice, initial_state=[EnableEncryptionBuilder().as_dict()])
        await invite_bot(alice, room_id, bot.user_id)

        await alice.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "!generate once upon"},
            ignore_unverified_devices=True,
        )
        command = await bot.next_message()
        assert (command.body, command.encrypted) == ("!generate once upon", True)
        assert bot.connection.client.rooms[room_id].encrypted
        alice_devices = bot.connection.client.device_store.active_user_devices(alice_id)
        assert [d.verified for d in alice_devices] == [True]  # allowed users are trusted

        bot.connection.outbox.send(room_id, fmt.reply(command, "once upon a time"))
        reply = await alice.wait_for(room_id, lambda e: e["sender"] == bot.user_id, within_s=20)
        assert reply["content"]["body"] == "once upon a time"
        assert reply["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": command.event_id}}

        # Keys live in the store dir: after a restart the same device still decrypts.
        again = await bots.restart(bot)
        await alice.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "!status"},
            ignore_unverified_devices=True,
        )
        assert (await again.next_message()).body == "!status"
    finally:
        await alice.client.close()
