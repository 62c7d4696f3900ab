"""Transcript: `!chat` with a chat model in a thread, through a real Synapse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClientConfig, EnableEncryptionBuilder, RoomSendResponse

from bot.app import App
from bot.dev.homeserver import SynapseServer
from tests.support.pretrained import build_base

from . import trainbot
from .conftest import E2E, MakePerson, unique
from .helpers import Person, login
from .test_room_encrypted import raw_event
from .trainbot import PASSWORD, Room, StartBot, edit_of, new_body, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures


async def register(app: App, name: str, base: Path, tmp: Path) -> str:
    """Register a copy of a tiny pretrained base as `name@v1`."""
    copy = shutil.copytree(base, tmp / name)
    row = await app.services.models.register_local(
        name=name, job_id="", dataset_id="", base=str(base), output_dir=copy, metrics={}
    )
    return row.label


def in_thread(root: str) -> dict[str, Any]:
    """What a client puts on a reply in a thread."""
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
    }


async def answer_in_thread(room: Room, root: str, asked: str) -> tuple[dict[str, Any], str]:
    """The bot's answer to `asked` (in `root`'s thread) and its final text."""
    answer = await room.wait(
        lambda e: (
            e.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            == asked
        ),
        60,
    )
    relation = answer["content"]["m.relates_to"]
    assert ("m.thread", root) == (relation["rel_type"], relation["event_id"])
    final = await room.wait(edit_of(answer["event_id"], lambda body: "— " in body), 60)
    return answer, new_body(final)


async def test_chat_in_a_thread_continues_with_history_and_switches_model(
    start_trainbot: StartBot,
    make_person: MakePerson,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    llama = await register(
        app, "llama", build_base(tmp_path_factory.getbasetemp(), "llama"), tmp_path
    )
    gpt2 = await register(app, "gpt", build_base(tmp_path_factory.getbasetemp(), "gpt2"), tmp_path)
    room = await open_room(app, ann, bot_id)

    command = await room.ask(f"!chat model={llama} what's the cat doing? x=1")
    first, text = await answer_in_thread(room, command, command)
    assert text.endswith(" tokens") and f"— {llama}, " in text

    reply = await room.ask("and the dog?", **in_thread(command))  # no command prefix
    _, second = await answer_in_thread(room, command, reply)
    assert f"— {llama}, " in second

    refused = await room.answer("!chat model=nothing@v9 hello", 30)
    assert "nothing@v9" in refused
    reply = await room.ask(f"!chat model={gpt2}", **in_thread(command))
    confirm = await room.reply_to(reply, 30)
    assert f"This thread now talks to {gpt2}." in confirm["content"]["body"]
    third_ask = await room.ask("tell me more", **in_thread(command))
    _, third = await answer_in_thread(room, command, third_ask)
    assert f"— {gpt2}, " in third

    saved = sorted(await app.services.generation.predictions(), key=lambda p: p.created_at)
    asked = [[m["content"] for m in json.loads(p.prompt)] for p in saved[-3:]]
    spoken = text.split("\n— ")[0]
    assert ["what's the cat doing? x=1"] == asked[0]
    assert ["what's the cat doing? x=1", spoken, "and the dog?"] == asked[1]
    history = [*asked[1], second.split("\n— ")[0], "tell me more"]
    # Each turn is sent whole until the context is full; then the oldest go, said once.
    assert history[-len(asked[2]) :] == asked[2]
    told = [t for t in (text, second, third) if "were dropped" in t]
    assert (1 if len(asked[2]) < len(history) else len(told)) == len(told) <= 1

    edits = [
        new_body(e)
        for e in await room.bot_messages()
        if e["content"].get("m.relates_to", {}).get("event_id") == first["event_id"]
        and e["content"]["m.relates_to"].get("rel_type") == "m.replace"
    ]
    assert text == edits[-1]  # streamed into one message, finalised in place
    assert all(body.endswith("…") for body in edits[:-1])
    assert 3 == len(saved)  # three answers; the refused model saved nothing


async def test_chat_in_an_encrypted_room(
    synapse: SynapseServer,
    trainbots: trainbot.Trainbots,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ann_id, _ = await synapse.register_user(unique("ann"), PASSWORD)
    (tmp_path / "ann").mkdir()
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = await login(
        synapse.base_url, ann_id, PASSWORD, store_path=str(tmp_path / "ann"), config=config
    )
    try:
        await client.keys_upload()
        ann = Person(client)
        await ann.sync()
        app, bot_id = await trainbots.start(allowed=[ann_id], matrix={"e2ee": True})
        base = build_base(tmp_path_factory.getbasetemp(), "llama")
        label = await register(app, "secret", base, tmp_path)
        room = await open_room(
            app, ann, bot_id, initial_state=[EnableEncryptionBuilder().as_dict()]
        )

        sent = await client.room_send(
            room.room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": f"!chat model={label} hello"},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent
        answer, text = await answer_in_thread(room, sent.event_id, sent.event_id)

        assert f"— {label}, " in text  # decrypted by ann's client, edits included
        raw = await raw_event(synapse, client.access_token, room.room_id, answer["event_id"])
        assert "m.room.encrypted" == raw["type"]
    finally:
        await client.close()
