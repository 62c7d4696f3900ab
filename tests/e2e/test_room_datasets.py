"""Transcripts: storing datasets from files uploaded to the room."""

from __future__ import annotations

import json

from tests.support.services import records

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, open_room, reply_with, upload

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures


def jsonl(rows: list[object]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


async def test_add_a_file_then_stats_and_the_list(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)

    file_event = await upload(room, "poems.jsonl", jsonl(list(records())))
    stored = await reply_with(room, file_event, "!dataset add poems")
    first, summary = stored["body"].splitlines()[:2]
    assert first.startswith("Stored poems@v1 (id ")
    assert "poems@v1 (text): 40 rows, 40 valid examples — ok" == summary
    assert "\nexamples            40\n" in stored["body"]
    assert "\ntokens per example  min " in stored["body"]
    assert "<pre>" in stored["formatted_body"]

    stats = await room.answer("!dataset stats poems")
    assert stats.startswith("poems@v1 (text, id ") and "\ntrain / validation  36 / 4" in stats

    listing = await room.reply_to(await room.ask("!datasets"))
    header, _rule, row = listing["content"]["body"].splitlines()[1:4]
    assert ["dataset", "id", "format", "examples", "tokens"] == header.split()
    assert "poems@v1" == row.split()[0] and ["text", "40"] == row.split()[2:4]
    assert "<table>" in listing["content"]["formatted_body"]


async def test_a_bad_file_gets_its_row_errors_and_nothing_is_stored(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)

    not_a_reply = await room.answer("!dataset add poems")
    assert not_a_reply.startswith("send this as a reply to an uploaded JSONL, CSV or TXT file")
    assert "\nUsage: !dataset add <name>" in not_a_reply

    rows = jsonl([*records(12), {"text": 5}, {"txt": "wrong key"}]) + b"{broken json\n"
    file_event = await upload(room, "bad.jsonl", rows)
    refused = (await reply_with(room, file_event, "!dataset add bad"))["body"]
    assert refused.startswith("bad (text): 15 rows, 12 valid examples, 3 invalid rows — refused")
    assert "\n  line 13: field 'text' must be a string, got number" in refused
    assert "\n  line 14: missing field 'text'" in refused
    assert "\n  line 15: not valid JSON" in refused
    assert str(app.settings.storage.data_dir) not in refused  # no server paths in the room

    assert "No datasets yet." in await room.answer("!datasets")
