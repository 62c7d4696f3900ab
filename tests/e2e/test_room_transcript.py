"""Transcripts: what a person in a room sees when they use Trainbot."""

from __future__ import annotations

from tests.support.services import FAST, records

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import Room, StartBot, notice_containing, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures


async def test_help_usage_and_refusals(start_trainbot: StartBot, make_person: MakePerson) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)

    answer = await room.reply_to(await room.ask("!help"))
    body = answer["content"]["body"]
    assert "!train <dataset>" in body and "!generate" in body
    assert "m.notice" == answer["content"]["msgtype"]
    assert {"user_ids": [ann.user_id]} == answer["content"]["m.mentions"]
    assert "<br>" in answer["content"]["formatted_body"]

    answer = await room.reply_to(await room.ask("!train"))
    assert (
        answer["content"]["body"].startswith(
            f"> <{ann.user_id}> !train\n\nmissing arguments\nUsage: !train <dataset>"
        )
        or "missing arguments\nUsage: !train <dataset>" in answer["content"]["body"]
    )

    answer = await room.reply_to(await room.ask("!train poems epoch=3"))
    assert "unknown option 'epoch'" in answer["content"]["body"]

    answer = await room.reply_to(await room.ask("!activate poems"))
    assert "Sorry, only admins may use !activate." == answer["content"]["body"]


async def test_a_stranger_is_refused_and_nothing_happens(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann, eve = await make_person("ann"), await make_person("eve")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)
    await ann.client.room_invite(room.room_id, eve.user_id)
    await eve.client.join(room.room_id)
    eve_room = Room(app, eve, room.room_id, bot_id)
    await app.services.datasets.upload_records("poems", records())  # type: ignore[union-attr]

    answer = await eve_room.reply_to(await eve_room.ask("!train poems"))
    assert "Sorry, you are not allowed to use this bot." == answer["content"]["body"]
    assert [] == await app.services.jobs.find()  # type: ignore[union-attr]


async def test_train_progress_in_place_final_notice_and_curve(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)
    await app.services.datasets.upload_records("poems", records())

    hp = " ".join(f"{k}={v}" for k, v in {**FAST, "max_steps": 40}.items())
    command = await room.ask(f"!train poems {hp}")
    ack = await room.reply_to(command)
    assert (
        ack["content"]["body"].startswith("Queued job ") or "Queued job " in ack["content"]["body"]
    )

    final = await room.wait(notice_containing("succeeded"), within_s=120)
    assert "poems@v1 is ready" in final["content"]["body"]
    image = await room.wait(lambda e: e.get("content", {}).get("msgtype") == "m.image", 30)
    assert image["content"]["url"].startswith("mxc://")

    sent = await room.bot_messages()
    progress = [e for e in sent if e["content"].get("body", "").startswith("Training poems")]
    edits = [e for e in sent if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"]
    assert 1 == len(progress)  # one progress message …
    assert edits and all(
        e["content"]["m.relates_to"]["event_id"] == progress[0]["event_id"] for e in edits
    )  # … edited in place
    job = (await app.services.jobs.find())[0]
    duration = (job.finished_at or 0) - (job.started_at or 0)
    assert len(edits) <= duration / 1.0 + 6  # bounded by progress_interval_s (+ state changes)
    last = edits[-1]["content"]["m.new_content"]["body"]
    assert "step 40/40" in last and "100%" in last
    reactions = await room.person.messages(room.room_id, bot_id, "m.reaction")
    assert [("✅", command)] == [
        (e["content"]["m.relates_to"]["key"], e["content"]["m.relates_to"]["event_id"])
        for e in reactions
        if "m.relates_to" in e["content"]  # a redacted reaction has no content left
    ]  # the long command was acknowledged with ⏳, taken back for ✅ when it ended
    assert 2 == len(reactions)

    answer = await room.reply_to(await room.ask("!models"))
    assert "poems@v1 *" in answer["content"]["body"]
    answer = await room.reply_to(await room.ask("!generate max_tokens=5 seed=1 the cat"), 60)
    assert answer["content"]["body"].startswith("the cat")
    assert "poems@v1" in answer["content"]["body"]
    saved = await app.services.generation.predictions()
    assert 1 == len(saved) and ann.user_id == saved[0].requested_by
