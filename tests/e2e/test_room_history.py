"""Transcripts: a command is answered once — not again when edited, not again after a restart."""

from __future__ import annotations

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, Trainbots, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures


async def test_an_edited_command_does_not_run_again(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)
    command = await room.ask("!jobs")
    assert (await room.reply_to(command))["content"]["body"].startswith("No jobs yet.")

    # Some clients put the new text in the fallback body too; neither may run.
    edit = await room.ask(
        "!datasets",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "!datasets"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": command},
        },
    )
    later = await room.ask("!help jobs")
    await room.reply_to(later)  # the bot has read past the edit

    sent = [e["content"]["body"] for e in await room.bot_messages()]
    assert [] == await room.replies(edit)
    assert 1 == len(await room.replies(command))
    assert not any(body.startswith("No datasets yet.") for body in sent)


async def test_after_a_restart_no_old_command_is_answered_twice(
    trainbots: Trainbots, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await trainbots.start(allowed=[ann.user_id])
    room = await open_room(app, ann, bot_id)
    before = [await room.ask("!status"), await room.ask("!jobs")]
    for command in before:
        await room.reply_to(command)

    await app.stop()
    while_down = await room.ask("!datasets")
    room.app = await trainbots.restart(app)

    assert (await room.reply_to(while_down, 60))["content"]["body"].startswith("No datasets yet.")
    new = await room.ask("!help status")
    assert (await room.reply_to(new))["content"]["body"].startswith("!status [job]")
    for command in [*before, while_down, new]:
        assert 1 == len(await room.replies(command)), command
