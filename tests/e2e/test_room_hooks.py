"""A `notify` webhook posts into its room through the bot's outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from pathlib import Path

import aiohttp

from bot.app import App
from bot.dev.homeserver import SynapseServer

from .conftest import E2E, MakePerson, unique
from .helpers import invite_bot, make_room
from .trainbot import PASSWORD, notice_containing, trainbot_settings

pytestmark = E2E
SECRET = "hook-secret-for-the-test"
TOKEN = "api-token-for-the-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_notify_hook_text_arrives_in_the_room(
    synapse: SynapseServer, make_person: MakePerson, tmp_path: Path
) -> None:
    ann = await make_person("ann")
    room_id = await make_room(ann)
    bot_id, _ = await synapse.register_user(unique("trainbot"), PASSWORD)
    port = free_port()
    hook = {
        "name": "alerts",
        "kind": "notify",
        "auth": "hmac",
        "secret": SECRET,
        "room_id": room_id,
    }
    settings = trainbot_settings(synapse, bot_id, tmp_path / "bot", [ann.user_id], [])
    settings = settings.model_copy(
        update={
            "http": settings.http.model_validate(
                {"enabled": True, "port": port, "tokens": [TOKEN], "hooks": [hook]}
            )
        }
    )
    app = App(settings)
    await app.start()
    try:
        await invite_bot(ann, room_id, bot_id)
        text = "Nightly data import finished: **120** new stories @room <script>"
        body = json.dumps({"text": text})
        # The README's signing scheme: HMAC-SHA256 of "<unix time>.<body>".
        stamp = str(int(time.time()))
        signed = f"{stamp}.{body}".encode()
        signature = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/v1/hooks/alerts",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Trainbot-Signature": f"t={stamp},sha256={signature}",
                },
            ) as response,
        ):
            assert response.status in (200, 202), await response.text()
        notice = await ann.wait_for(room_id, notice_containing("Nightly data import finished"))
        content = notice["content"]
        assert "@room" not in content["body"]  # defused: a hook cannot ping the room
        # Plain text: the sender's markup stays literal, nothing is rendered.
        assert "**120**" in content["formatted_body"]
        assert "<strong>" not in content["formatted_body"]
        assert "<script>" not in content["formatted_body"]
        assert {"user_ids": []} == content["m.mentions"]
        assert [] == await app.services.notifications.pending()  # type: ignore[union-attr]
    finally:
        await app.stop()
