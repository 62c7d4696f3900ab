"""Transcript: an admin checks a retraining schedule from the model's room.

The schedule names no room, so its decisions go to the room the model was trained from.
"""

from __future__ import annotations

import re

from tests.support.services import records

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, hyper, join, notice_containing, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures

SCHEDULE = {
    "model": "stories",
    "dataset": "stories",
    "policy": "new_data",
    "every": "1h",
    "min_new_records": 20,
    "hyperparameters": {"max_steps": 5000},
}


async def test_an_admin_checks_the_schedule_and_the_decision_is_posted(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann, bob = await make_person("ann"), await make_person("bob")
    app, bot_id = await start_trainbot(
        allowed=[bob.user_id], admins=[ann.user_id], schedules=[SCHEDULE]
    )
    datasets = app.services.datasets
    room = await open_room(app, ann, bot_id)
    bobs = await join(room, bob)

    assert "Sorry, only admins may use !schedule." == await bobs.answer("!schedule")
    overview = await room.answer("!schedule")
    assert overview.startswith(
        "stories ← stories: new_data (min_new_records=20); checks every 1h; next "
    )
    assert overview.endswith("\n  no decisions yet")
    unknown = await room.answer("!schedule check poems")
    assert "no retraining schedule for model 'poems'; configured: stories" == unknown

    await datasets.upload_records("stories", records(40))
    trained = await room.answer(f"!train stories {hyper()}")
    job_id = re.search(r"Queued job (\w+)", trained)
    assert job_id, trained
    await room.wait(notice_containing(f"✅ Job {job_id[1]} succeeded"), 240)

    await datasets.upload_records("stories", records(40) + records(5, seed=1))
    waiting = await room.answer("!schedule check stories")
    expected = (
        "Not retraining stories (policy new_data): stories@v2 has 45 examples, 5 more "
        "than stories@v1 (40) that stories@v1 was trained on; 20 are needed to "
        "retrain."
    )
    assert expected == waiting
    posted = await room.wait(lambda e: notice_containing(expected)(e) and not _is_reply(e))
    assert posted["sender"] == bot_id

    await datasets.upload_records("stories", records(40) + records(25, seed=1))
    retrain = await room.answer("!schedule check stories")
    assert retrain.startswith("Retraining stories (policy new_data): stories@v3 has 65 examples")
    queued = re.search(r"Queued job (\w+)\.$", retrain)
    assert queued, retrain
    await room.wait(notice_containing(f"Training stories (job {queued[1]})"), 120)
    await room.answer(f"!cancel {queued[1]}")

    history = await room.answer("!schedule history stories")
    lines = history.splitlines()
    assert "Decisions about stories (newest first):" == lines[0]
    assert lines[1].endswith(f"20 are enough to retrain (job {queued[1]})")
    assert " retrain: stories@v3 has 65 examples" in lines[1]
    assert " no retrain: stories@v2 has 45 examples" in lines[2]


def _is_reply(event: dict[str, object]) -> bool:
    content = event.get("content")
    return isinstance(content, dict) and "m.relates_to" in content
