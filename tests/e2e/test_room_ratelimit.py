"""Transcript: on a homeserver with a strict message rate limit, every command is answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from bot.dev.homeserver import SynapseServer

from .conftest import E2E, unique
from .helpers import Person, login
from .trainbot import PASSWORD, Trainbots, open_room

pytestmark = E2E

# A burst of 2 messages, then one every 2 seconds: a bot answering six commands must wait.
STRICT = {"rc_message": {"per_second": 0.5, "burst_count": 2}}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def strict_synapse() -> AsyncIterator[SynapseServer]:
    """A second homeserver whose message rate limit bites."""
    async with SynapseServer(config_overrides=STRICT) as server:
        yield server


async def exempt_person(server: SynapseServer, name: str) -> Person:
    """A user the rate limit does not apply to (so only the bot meets it)."""
    user_id, token = await server.register_user(unique(name), PASSWORD, admin=True)
    url = f"{server.base_url}/_synapse/admin/v1/users/{user_id}/override_ratelimit"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(url, json={"messages_per_second": 0, "burst_count": 0}) as response,
    ):
        assert 200 == response.status, await response.text()
    person = Person(await login(server.base_url, user_id, PASSWORD))
    await person.sync()
    return person


async def test_commands_in_quick_succession_all_get_their_replies(
    strict_synapse: SynapseServer, tmp_path: Path
) -> None:
    ann = await exempt_person(strict_synapse, "ann")
    bots = Trainbots(strict_synapse, tmp_path)
    try:
        app, bot_id = await bots.start(allowed=[ann.user_id])
        room = await open_room(app, ann, bot_id)
        commands = ["!help", "!status", "!jobs", "!models", "!datasets", "!help train"]
        sent = [await room.ask(command) for command in commands]

        replies = [(await room.reply_to(event_id, 60))["content"]["body"] for event_id in sent]

        assert replies[0].startswith("Commands:")
        assert replies[1].startswith("Jobs: no jobs yet.")
        assert replies[2].startswith("No jobs yet.")
        assert replies[3].startswith("No models yet.")
        assert replies[4].startswith("No datasets yet.")
        assert replies[5].startswith("!train <dataset>")
        assert app.matrix is not None and app.matrix.connection.outbox.rate_limited > 0
        for event_id in sent:
            assert 1 == len(await room.replies(event_id))  # a retried send is not doubled
    finally:
        await bots.stop()
        await ann.client.close()
