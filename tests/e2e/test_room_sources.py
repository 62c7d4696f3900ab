"""Transcripts: data sources fetched into the room's dataset, failures told in the room."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from nio import UploadResponse

from bot.room.commands import datasets as datasets_command
from tests.support.json_server import JsonServer

from . import trainbot
from .conftest import E2E, MakePerson
from .helpers import invite_bot, make_room
from .trainbot import Room, StartBot, join, notice_containing, open_room, reply_with, upload

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures
ITEMS = [f"story {n}: the cat sat on the mat while the dog ran to the park" for n in range(5)]
FAILED = "⚠️ Source news: the fetch failed and no new version of news was written."


@pytest_asyncio.fixture(loop_scope="session")
async def endpoint() -> AsyncIterator[JsonServer]:
    server = JsonServer()
    await server.start()
    yield server
    await server.stop()


def news(endpoint: JsonServer, **extra: object) -> dict[str, object]:
    return {
        "name": "news",
        "url": f"{endpoint.url}/stories",
        "select": "items",
        "dataset": "news",
        "every": "1h",
        **extra,
    }


def jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps({"text": text}) + "\n" for text in texts).encode()


def row_of(listing: str, name: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(name + " "))


async def test_sources_shows_the_last_fetch_and_a_failure_is_told_in_the_datasets_room(
    start_trainbot: StartBot, make_person: MakePerson, endpoint: JsonServer
) -> None:
    ann, bob = await make_person("ann"), await make_person("bob")
    app, bot_id = await start_trainbot(
        allowed=[ann.user_id, bob.user_id],
        admins=[ann.user_id],
        sources=[news(endpoint)],
        scheduler={"enabled": False},
        trainer={"min_examples": 3},
    )
    room = await open_room(app, ann, bot_id)

    listing = await room.answer("!sources")
    assert ["source", "dataset", "schedule", "last", "fetch", "result", "next"] == (
        listing.splitlines()[1].split()
    )
    assert ["news", "news", "every", "1h", "never", "-", "scheduler", "off"] == (
        row_of(listing, "news").split()
    )

    stored = await reply_with(
        room, await upload(room, "news.jsonl", jsonl(ITEMS[:3])), "!dataset add news"
    )
    assert stored["body"].startswith("Stored news@v1 ")
    endpoint.answer({"items": ITEMS[:4]})
    assert "Fetched news: ok: 4 items, 1 new → news@v2." == await room.answer("!sources fetch news")
    assert "ok: 4 items, 1 new → news@v2" in row_of(await room.answer("!sources"), "news")

    bobs = await join(room, bob)
    assert (await bobs.answer("!sources fetch news")).startswith("only admins may fetch a source")
    assert "no source 'weather' (known: news)" in await room.answer("!sources fetch weather")

    endpoint.answer_raw(b"<html>maintenance</html>")
    failed = await room.answer("!sources fetch news")
    assert failed.startswith("Fetching news failed; nothing was written.\n")
    assert failed.endswith("/stories is not JSON (Expecting value at line 1 column 1)")
    told = await room.wait(notice_containing(FAILED))
    assert told["content"]["body"].endswith(
        "/stories is not JSON (Expecting value at line 1 column 1)"
    )
    row = row_of(await room.answer("!sources"), "news")
    assert " ago " in row and "failed: the answer of http://" in row
    assert "news@v2" == row_of(await room.answer("!datasets news"), "news@v2").split()[0]


async def test_a_scheduled_failure_and_the_recovery_are_told_in_the_sources_room(
    start_trainbot: StartBot, make_person: MakePerson, endpoint: JsonServer
) -> None:
    ann = await make_person("ann")
    room_id = await make_room(ann)
    endpoint.answer({"items": ITEMS[:3]})
    app, bot_id = await start_trainbot(
        allowed=[ann.user_id],
        sources=[news(endpoint, every="0.5s", room_id=room_id)],
        scheduler={"enabled": True},
        trainer={"min_examples": 3},
    )
    await invite_bot(ann, room_id, bot_id)
    room = Room(app, ann, room_id, bot_id)
    for _ in range(600):  # the fetch at start has written news@v1
        if await app.services.store.datasets.latest("news"):
            break
        await asyncio.sleep(0.05)

    endpoint.answer({"items": "not a list"})
    told = await room.wait(notice_containing(FAILED))
    assert told["content"]["body"].endswith("select items: expected a list at items, got a string")
    row = row_of(await room.answer("!sources"), "news")
    assert "every 0.5s" in row and "failed: select items: expected a list" in row

    endpoint.answer({"items": ITEMS})
    back = await room.wait(notice_containing("✅ Source news works again"))
    assert "✅ Source news works again: ok: 5 items, 2 new → news@v2." == back["content"]["body"]
    assert 1 == sum(FAILED in e["content"].get("body", "") for e in await room.bot_messages())


async def test_dataset_add_counts_the_bytes_it_downloads_not_the_declared_size(
    start_trainbot: StartBot, make_person: MakePerson, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets_command, "MAX_UPLOAD_BYTES", 1024)
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id], trainer={"min_examples": 3})
    room = await open_room(app, ann, bot_id)
    data = jsonl(ITEMS * 10)  # over 1 KiB
    response, _ = await ann.client.upload(
        io.BytesIO(data), "application/jsonl", "small.jsonl", filesize=len(data)
    )
    assert isinstance(response, UploadResponse), response
    info = {"mimetype": "application/jsonl", "size": 10}  # the sender's claim
    lying = await room.ask("small.jsonl", msgtype="m.file", url=response.content_uri, info=info)

    refused = await reply_with(room, lying, "!dataset add small")

    assert "the file is larger than 0.000976562 MiB" in refused["body"]
    assert [] == await app.services.datasets.versions("small")
