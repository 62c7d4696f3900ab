"""Encrypted-room transcripts driven by mautrix-python, a client independent of the bot's
matrix-nio: its own Olm/Megolm (libolm) and its own cross-signing trust checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.dev.homeserver import SynapseServer
from bot.matrix.outbox import Outbox
from bot.matrix.plaintext import E2EE_OFF_NOTE

# The peer's crypto is python-olm (built from source); without it there is no peer.
pytest.importorskip("olm")
pytest.importorskip("mautrix.crypto")
from mautrix.types import TrustState

from tests.support.peer import Peer, Seen

from . import trainbot
from .conftest import E2E, PASSWORD, BotFactory, unique
from .trainbot import Trainbots

# mautrix warns about a field the bot's nio still sends (harmless, spec-allowed).
pytestmark = [*E2E, pytest.mark.filterwarnings("ignore:The sender_key field:DeprecationWarning")]
trainbots = trainbot.trainbots  # shared fixture


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def peer(synapse: SynapseServer) -> AsyncIterator[Peer]:
    """A person ("alice…", so the test bots' default allow list lets them in) on mautrix;
    one login for the module (each test's events come from its own bot)."""
    user_id, _ = await synapse.register_user(unique("alice"), PASSWORD)
    person = await Peer.login(synapse.base_url, user_id, PASSWORD)
    person.start()
    yield person
    await person.close()


def joined(user_id: str) -> Callable[[Seen], bool]:
    return lambda s: (
        s.type == "m.room.member" and s.sender == user_id and s.content.get("membership") == "join"
    )


def from_bot(bot_id: str, event_type: str) -> Callable[[Seen], bool]:
    return lambda s: s.sender == bot_id and s.type == event_type


async def test_encrypted_command_gets_an_encrypted_answer_from_a_cross_signed_device(
    peer: Peer, trainbots: Trainbots
) -> None:
    app, bot_id = await trainbots.start(allowed=[peer.user_id])  # matrix.e2ee left at "auto"
    room_id = await peer.create_encrypted_room(bot_id)
    await peer.wait(joined(bot_id))

    command = await peer.send_text(room_id, "!help")
    answer = await peer.wait(
        lambda s: (
            from_bot(bot_id, "m.room.message")(s)
            and s.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            == command
        )
    )

    assert "m.room.encrypted" == answer.wire_type
    assert answer.content["body"].startswith("Commands:\n!help")
    # Decrypted with no warning: the sending device is signed by the bot's account.
    assert TrustState.CROSS_SIGNED_TOFU == answer.trust
    assert app.matrix is not None
    device_id = app.matrix.connection.device_id
    assert TrustState.CROSS_SIGNED_TOFU == await peer.device_trust(bot_id, device_id)

    app.matrix.room.react(room_id, command, "👀")
    reaction = await peer.wait(from_bot(bot_id, "m.reaction"))
    app.matrix.room.unreact(room_id, command, "👀")
    redaction = await peer.wait(from_bot(bot_id, "m.room.redaction"))

    assert "m.room.encrypted" == reaction.wire_type
    relation = {"rel_type": "m.annotation", "event_id": command, "key": "👀"}
    assert relation == reaction.content["m.relates_to"]
    assert reaction.event_id == redaction.redacts

    # After a restart the outbox has forgotten its reactions: it finds its own on the server.
    app.matrix.room.react(room_id, command, "👍")
    thumbs = await peer.wait(lambda s: from_bot(bot_id, "m.reaction")(s) and s != reaction)
    fresh = Outbox(app.matrix.connection.client)
    taken_back = fresh.unreact(room_id, command, "👍")
    assert taken_back is not None
    await taken_back
    await fresh.close()
    later = await peer.wait(lambda s: from_bot(bot_id, "m.room.redaction")(s) and s != redaction)
    assert ("👍", thumbs.event_id) == (thumbs.content["m.relates_to"]["key"], later.redacts)


async def test_without_e2ee_the_bot_says_once_that_the_room_is_encrypted(
    peer: Peer, bots: BotFactory
) -> None:
    bot = await bots.new(e2ee=False)
    room_id = await peer.create_encrypted_room(bot.user_id)
    await peer.wait(joined(bot.user_id))

    await peer.send_text(room_id, "!status", encrypted=False)
    note = await peer.wait(from_bot(bot.user_id, "m.room.message"))
    heard = await bot.next_message()
    unreadable = await peer.send_text(room_id, "!models")  # encrypted: the bot can't read it
    async with asyncio.timeout(15):
        while not bot.connection.history.is_handled(unreadable):
            await bot.caught_up(1)
    await bot.caught_up()

    assert ("m.room.message", "m.notice") == (note.wire_type, note.content["msgtype"])
    assert f"{peer.user_id}: {E2EE_OFF_NOTE}" == note.content["body"]
    assert {"user_ids": [peer.user_id]} == note.content["m.mentions"]
    assert ("!status", False) == (heard.body, heard.encrypted)
    assert bot.inbox.empty()  # the encrypted message never reached the app
    notes = [s for s in peer.seen if from_bot(bot.user_id, "m.room.message")(s)]
    assert [note] == notes
