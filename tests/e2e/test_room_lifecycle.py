"""Transcripts: a command's life in the room as an Element user sees it (issue 12).

A job started in a thread stays there; the command's ⏳ becomes ✅ when the job ends and
is never put on a command answered at once; the final notice pings who asked in reply to
their command; an edit fixing a refused command is a new try; `!help` lists what works
with the bot's settings. One Trainbot serves the module (micro preset, a few steps).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio

from bot.app import App
from bot.dev.homeserver import SynapseServer
from tests.support.services import records

from .conftest import E2E, MakePerson
from .helpers import Event
from .trainbot import Room, Trainbots, edit_of, hyper, notice_containing, open_room, replies_to

pytestmark = E2E

FEW_STEPS = hyper(max_steps=4, eval_every=4, save_every=4)


@dataclass
class Trainbot:
    """The module's bot: its App and its Matrix user id."""

    app: App
    user_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trainbot(
    synapse: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Trainbot]:
    """A Trainbot (no OpenAI key) with the dataset `tales`."""
    bots = Trainbots(synapse, tmp_path_factory.mktemp("room-lifecycle"))
    app, user_id = await bots.start(allowed=["@cleo*"])
    await app.services.datasets.upload_records("tales", records(seed=3))
    yield Trainbot(app, user_id)
    await bots.stop()


def in_thread(root: str) -> dict[str, object]:
    """What a client sends for a message in the thread of `root`."""
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
    }


def thread_of(event: Event) -> str | None:
    relation = event.get("content", {}).get("m.relates_to", {})
    return relation.get("event_id") if relation.get("rel_type") == "m.thread" else None


def reactions_on(room: Room, event_id: str) -> list[tuple[str, str]]:
    """(key, reaction event id) of every reaction the bot put on `event_id`, in order."""
    found = []
    for event in room.timeline:
        relation = event.get("content", {}).get("m.relates_to", {})
        if (
            event.get("type") == "m.reaction"
            and event.get("sender") == room.bot_id
            and relation.get("event_id") == event_id
        ):
            found.append((str(relation.get("key")), str(event["event_id"])))
    return found


def is_redaction_of(event_id: str) -> Callable[[Event], bool]:
    return lambda e: (
        e.get("type") == "m.room.redaction"
        and (e.get("redacts") == event_id or e.get("content", {}).get("redacts") == event_id)
    )


async def test_a_job_started_in_a_thread_lives_there_and_pings_who_asked_at_the_end(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    cleo = await make_person("cleo")
    room = await open_room(trainbot.app, cleo, trainbot.user_id)
    root = await room.ask("Let's train something on tales")

    command = await room.ask(f"!train tales {FEW_STEPS}", **in_thread(root))
    ack = await room.reply_to(command, 60)
    found = re.search(
        r"Queued job (\w+): tales from dataset tales@v1 on micro", ack["content"]["body"]
    )
    assert found, ack["content"]["body"]
    job_id = found[1]
    progress = await room.wait(notice_containing(f"Training tales (job {job_id})"), 120)
    final = await room.wait(notice_containing(f"Job {job_id} succeeded"), 120)
    image = await room.wait(lambda e: e.get("content", {}).get("msgtype") == "m.image", 60)
    last_edit = await room.wait(edit_of(str(progress["event_id"]), lambda b: "step 4/4" in b))

    assert [root] * 4 == [thread_of(e) for e in (ack, progress, final, image)]
    assert str(progress["event_id"]) == last_edit["content"]["m.relates_to"]["event_id"]
    content = final["content"]
    assert {"user_ids": [cleo.user_id]} == content["m.mentions"]
    assert command == content["m.relates_to"]["m.in_reply_to"]["event_id"]
    name = cleo.user_id.split(":")[0].lstrip("@")
    assert content["body"].startswith(f"{name}: ✅ Job {job_id} succeeded: model tales@v1 is ")
    assert f'<a href="https://matrix.to/#/{cleo.user_id}">{name}</a>' in content["formatted_body"]
    assert "It is the active version now." in content["body"]
    assert {"user_ids": []} == progress["content"]["m.mentions"]  # progress pings nobody

    # The command's ⏳ is taken back and ✅ put in its place.
    await room.wait(lambda e: ("✅", str(e.get("event_id"))) in reactions_on(room, command), 30)
    keys = [key for key, _ in reactions_on(room, command)]
    assert ["⏳", "✅"] == keys
    hourglass = reactions_on(room, command)[0][1]
    await room.wait(is_redaction_of(hourglass), 30)


async def test_refusals_get_no_hourglass_and_an_edit_that_fixes_one_is_a_new_try(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    cleo = await make_person("cleo")
    room = await open_room(trainbot.app, cleo, trainbot.user_id)

    typo = await room.ask("!train tales epochs=abc")
    refused = await room.reply_to(typo)
    assert "epochs must be a number, got 'abc'" == refused["content"]["body"]
    jobs = trainbot.app.services.store.jobs
    before = await jobs.find(limit=1000)
    nosuch = await room.ask("!train tales base=nosuch")
    refusal = str((await room.reply_to(nosuch))["content"]["body"])
    assert refusal.startswith("base 'nosuch' is not available: use a preset")
    assert before == await jobs.find(limit=1000)  # nothing was queued

    fixed = {"m.new_content": {"msgtype": "m.text", "body": "!help train"}}
    edit = {"m.relates_to": {"rel_type": "m.replace", "event_id": typo}} | fixed
    await room.ask("* !help train", **edit)
    retried = await room.wait(replies_to(typo), 30)
    assert retried["content"]["body"].startswith("!train <dataset>")

    # An edit of a command that was answered is ignored, as before.
    answered = await room.ask("!datasets")
    await room.reply_to(answered)
    redo = {"m.new_content": {"msgtype": "m.text", "body": "!help"}}
    await room.ask(
        "* !help", **({"m.relates_to": {"rel_type": "m.replace", "event_id": answered}} | redo)
    )
    marker = await room.ask("!help help")
    await room.reply_to(marker)
    assert 1 == len(await room.replies(answered))
    assert [] == reactions_on(room, typo) + reactions_on(room, nosuch) + reactions_on(
        room, answered
    )


async def test_help_lists_what_works_with_the_settings_and_what_a_setting_adds(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    cleo = await make_person("cleo")
    room = await open_room(trainbot.app, cleo, trainbot.user_id)

    reply = await room.reply_to(await room.ask("!help"))
    plain, html = reply["content"]["body"], reply["content"]["formatted_body"]
    working, _, more = plain.partition("Available with more settings")

    assert "!train <dataset>" in working and "!optimize" not in working
    assert "dataset generate" not in working and "!dataset add <name>" in working
    assert "!optimize\n    needs [openai] api_key" in more
    assert "!dataset generate\n    needs [openai] api_key" in more
    assert "`" not in html
    missing = await room.reply_to(await room.ask("!status nosuch"))
    assert "no job 'nosuch'; `!jobs` lists them" == missing["content"]["body"]
    assert "<code>!jobs</code>" in missing["content"]["formatted_body"]
