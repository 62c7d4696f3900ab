"""Transcripts: cleaning a dataset and generating one with the chat model (a fake OpenAI).

Each round answers an estimate first and stores nothing; with `confirm` the room sees an
acknowledgement, one progress message edited in place, and a final notice naming the
new version.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from tests.fakes.openai_server import FakeOpenAI

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, edit_of, notice_containing, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures
MESSY = [{"text": f"<p>Caf\u00c3\u00a9 number {i}</p>"} for i in range(12)]
GENERATE = (
    '!dataset generate heroes template="Describe a {race} {class}" '
    "race=human,elf,dwarf class=ranger,wizard,bard,monk"
)


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


def clean(messages: list[dict[str, Any]]) -> str:
    """The fake model's cleaning: tags out, the mojibake repaired."""
    text = re.sub(r"<[^>]+>", "", messages[-1]["content"])
    return text.replace("\u00c3\u00a9", "\u00e9")


def rows(path: str) -> list[Any]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


async def test_optimize_answers_an_estimate_then_cleans_into_a_new_version(
    start_trainbot: StartBot, make_person: MakePerson, fake: FakeOpenAI
) -> None:
    ann = await make_person("ann")
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "max_concurrency": 2}
    app, bot_id = await start_trainbot(allowed=[ann.user_id], openai=openai)
    await app.services.datasets.upload_records("ds", MESSY)
    room = await open_room(app, ann, bot_id)

    estimate = await room.answer("!optimize ds")
    assert estimate.startswith("ds@v1: 12 records → 12 API calls to gpt-4o-mini, about ")
    assert estimate.endswith("\nSend `!optimize ds confirm` to run it.")
    assert [] == fake.chat_requests

    fake.chat_reply, fake.chat_gate = clean, asyncio.Event()
    ack = await room.answer("!optimize ds confirm")
    started = re.fullmatch(
        r"Started task (\w+): cleaning dataset ds@v1 \(12 records\)\. "
        r"Progress follows here\.",
        ack,
    )
    assert started, ack
    task_id = started[1]
    first = f"⏳ cleaning dataset ds@v1 (task {task_id}): 0/12 done"
    progress = await room.wait(notice_containing(first))
    fake.chat_gate.set()
    await room.wait(
        edit_of(str(progress["event_id"]), lambda body: body.endswith("12/12 done → dataset ds@v2"))
    )
    final = await room.wait(notice_containing(f"Task {task_id}: cleaned"))
    assert final["content"]["body"].startswith(
        f"{ann.user_id[1:].split(':')[0]}: ✅ Task {task_id}: cleaned dataset ds@v1 into "
        "dataset ds@v2 (12 records, 12 changed). Used "
    )
    new = await app.services.datasets.resolve("ds@v2")
    assert [{"text": f"Café number {i}"} for i in range(12)] == rows(new.path)
    assert MESSY == rows((await app.services.datasets.resolve("ds@v1")).path)


async def test_generate_answers_the_count_then_stores_the_final_prompts(
    start_trainbot: StartBot, make_person: MakePerson, fake: FakeOpenAI
) -> None:
    ann = await make_person("ann")
    openai = {"api_key": fake.api_key, "base_url": fake.base_url}
    app, bot_id = await start_trainbot(allowed=[ann.user_id], openai=openai)
    room = await open_room(app, ann, bot_id)
    fake.chat_reply = lambda messages: f"A tale of {messages[-1]['content'][11:]}."

    estimate = await room.answer(GENERATE)
    assert estimate.startswith("heroes: 12 combinations → 12 API calls to gpt-4o-mini, ")
    assert "at most 3,072 output tokens (max_tokens=256 per call), at most $0.0019." in estimate
    assert "\nThe first asks “Describe a human ranger” and stores the prompt “human, ranger”." in (
        estimate
    )
    assert [] == fake.chat_requests

    ack = await room.answer(GENERATE + " confirm")
    started = re.match(r"Started task (\w+): generating dataset heroes \(12 pairs\)", ack)
    assert started, ack
    final = await room.wait(notice_containing(f"Task {started[1]}: generated"))
    assert (
        f"✅ Task {started[1]}: generated dataset heroes@v1 (12 prompt/completion pairs)."
        in final["content"]["body"]
    )
    stored = rows((await app.services.datasets.resolve("heroes@v1")).path)
    assert {"prompt": "human, ranger", "completion": "A tale of human ranger."} == stored[0]
    assert 12 == len({row["prompt"] for row in stored})
    assert not any("Describe" in row["prompt"] for row in stored)


async def test_without_a_key_and_with_a_wrong_template_the_room_is_told_why(
    start_trainbot: StartBot, make_person: MakePerson, fake: FakeOpenAI
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    await app.services.datasets.upload_records("ds", MESSY)
    room = await open_room(app, ann, bot_id)
    assert "set [openai] api_key" in await room.answer("!optimize ds confirm")
    assert "set [openai] api_key" in await room.answer(GENERATE + " confirm")

    keyed, keyed_id = await start_trainbot(
        allowed=[ann.user_id], openai={"api_key": fake.api_key, "base_url": fake.base_url}
    )
    other = await open_room(keyed, ann, keyed_id)
    unused = await other.answer(GENERATE + " hat=red,blue")
    assert unused.startswith("hat is not used by the template or the prompt")
    twice = await other.answer(GENERATE + " race=orc,elf")
    assert twice.startswith("race is given more than once")
    assert [] == await app.services.dataprep.find()
    assert [] == await keyed.services.dataprep.find()
    assert [] == fake.chat_requests
