"""Transcript: when the homeserver rate-limits the bot's messages, every command is answered."""

from __future__ import annotations

from pathlib import Path

from bot.dev.homeserver import SynapseServer

from .conftest import E2E, MakePerson, limit_messages
from .trainbot import Trainbots, open_room

pytestmark = E2E

# A burst of 2 messages, then one a second: a bot answering six commands must wait.
PER_SECOND, BURST = 1, 2


async def test_commands_in_quick_succession_all_get_their_replies(
    synapse: SynapseServer, make_person: MakePerson, tmp_path: Path
) -> None:
    ann = await make_person("ann")  # the shared homeserver's lax limits: only the bot meets one
    bots = Trainbots(synapse, tmp_path)
    try:
        app, bot_id = await bots.start(allowed=[ann.user_id])
        await limit_messages(synapse, bot_id, PER_SECOND, BURST)  # before it sends anything
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
