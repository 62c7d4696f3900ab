"""Transcript: Trainbot in an end-to-end encrypted room."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import AsyncClientConfig, DownloadResponse, EnableEncryptionBuilder, RoomSendResponse
from nio.crypto.attachments import decrypt_attachment

from bot.dev.homeserver import SynapseServer
from bot.room.lossplot import render_loss_curve

from . import trainbot
from .conftest import E2E, unique
from .helpers import Person, login
from .trainbot import PASSWORD, Trainbots, open_room

pytestmark = E2E
trainbots = trainbot.trainbots  # shared fixture


async def test_help_is_answered_and_decrypted_by_the_person(
    synapse: SynapseServer, trainbots: Trainbots, tmp_path: Path
) -> None:
    ann_id, _ = await synapse.register_user(unique("ann"), PASSWORD)
    (tmp_path / "ann").mkdir()
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = await login(
        synapse.base_url, ann_id, PASSWORD, store_path=str(tmp_path / "ann"), config=config
    )
    ann = Person(client)
    try:
        await client.keys_upload()
        await ann.sync()
        app, bot_id = await trainbots.start(allowed=[ann_id], matrix={"e2ee": True})
        room = await open_room(
            app, ann, bot_id, initial_state=[EnableEncryptionBuilder().as_dict()]
        )

        sent = await client.room_send(
            room.room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "!help"},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent
        reply = await room.reply_to(sent.event_id, 60)

        assert client.rooms[room.room_id].encrypted
        assert "m.room.message" == reply["type"]  # decrypted by ann's client
        assert reply["content"]["body"].startswith("Commands:\n!help [command]")
        assert "!train <dataset>" in reply["content"]["body"]
        raw = await raw_event(synapse, client.access_token, room.room_id, reply["event_id"])
        assert "m.room.encrypted" == raw["type"]  # the server only ever saw ciphertext

        # A loss curve posted here is encrypted too: the media repository holds ciphertext.
        png = render_loss_curve("curve", [])[0]
        assert app.matrix is not None
        await app.matrix.room.send_image(room.room_id, png, "loss.png", width=8, height=6)
        image = await room.wait(lambda e: e.get("content", {}).get("body") == "loss.png")
        assert "url" not in image["content"]
        encrypted = image["content"]["file"]
        stored = await client.download(mxc=encrypted["url"])
        assert isinstance(stored, DownloadResponse), stored
        assert png != stored.body
        key, sha256, iv = encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
        assert png == decrypt_attachment(stored.body, key, sha256, iv)
    finally:
        await client.close()


async def raw_event(
    server: SynapseServer, token: str, room_id: str, event_id: str
) -> dict[str, Any]:
    """An event as the homeserver stores it (no client-side decryption)."""
    url = f"{server.base_url}/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(url) as response,
    ):
        assert 200 == response.status, await response.text()
        event: dict[str, Any] = await response.json()
        return event
