"""Transcripts: fine-tuning at OpenAI from a room (the real `openai` client, a fake server).

The room sees the same things as for a local job: an acknowledgement, one progress
message edited in place as the remote job's metrics arrive, a final notice, and then
`!generate` answers from the fine-tuned model.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.openai_server import FakeOpenAI, answer, failing_script

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, edit_of, notice_containing, open_room

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures
FAQ = [{"prompt": f"What is {i} + {i}?", "completion": f"{2 * i}."} for i in range(12)]
BASE = "gpt-4o-mini-2024-07-18"


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


async def test_a_remote_job_reports_progress_and_its_model_answers(
    start_trainbot: StartBot, make_person: MakePerson, fake: FakeOpenAI
) -> None:
    ann = await make_person("ann")
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "poll_interval_s": 0.05}
    app, bot_id = await start_trainbot(allowed=[ann.user_id], openai=openai)
    await app.services.datasets.upload_records("faq", FAQ)
    room = await open_room(app, ann, bot_id)

    ack = await room.answer("!train faq backend=openai epochs=2 suffix=quiz")
    found = re.search(r"^Queued job (\w+): faq from dataset faq@v1 on " + re.escape(BASE), ack)
    assert found, ack
    job_id = found[1]
    progress = await room.wait(notice_containing(f"Training faq (job {job_id})"))
    last = await room.wait(edit_of(str(progress["event_id"]), lambda body: "step 3/3" in body))
    assert "loss 1.10" in last["content"]["m.new_content"]["body"]
    final = await room.wait(notice_containing(f"Job {job_id} succeeded"))
    assert f"✅ Job {job_id} succeeded: model faq@v1 is ready." in final["content"]["body"]

    models = await room.answer("!models faq")
    assert "faq@v1" in models
    generated = await room.answer("!generate model=faq What is 4 + 4?")
    assert answer("What is 4 + 4?") in generated
    chat = fake.seen("POST", "/v1/chat/completions")[-1].json
    assert chat["model"] == f"ft:{BASE}:trainbot:quiz:ftjob-1"
    create = fake.seen("POST", "/v1/fine_tuning/jobs")[-1].json
    assert ("quiz", {"n_epochs": 2}) == (
        create["suffix"],
        create["method"]["supervised"]["hyperparameters"],
    )


async def test_a_remote_failure_shows_the_apis_reason_in_the_room(
    start_trainbot: StartBot, make_person: MakePerson, fake: FakeOpenAI
) -> None:
    ann = await make_person("ann")
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "poll_interval_s": 0.05}
    app, bot_id = await start_trainbot(allowed=[ann.user_id], openai=openai)
    await app.services.datasets.upload_records("faq", FAQ)
    room = await open_room(app, ann, bot_id)

    fake.next_script = failing_script("Training file has too few assistant tokens")
    ack = await room.answer("!train faq backend=openai")
    found = re.search(r"^Queued job (\w+)", ack)
    assert found, ack
    final = await room.wait(notice_containing(f"Job {found[1]} (faq) failed"))
    who = ann.user_id[1:].split(":")[0]  # the notice pings who asked
    reason = "Training file has too few assistant tokens"
    assert f"{who}: ❌ Job {found[1]} (faq) failed: {reason}" == final["content"]["body"]
    status = await room.answer(f"!status {found[1]}")
    assert "failed" in status and "Training file has too few assistant tokens" in status


async def test_without_a_key_the_room_is_told_what_to_configure(
    start_trainbot: StartBot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    app, bot_id = await start_trainbot(allowed=[ann.user_id])
    await app.services.datasets.upload_records("faq", FAQ)
    room = await open_room(app, ann, bot_id)
    refused = await room.answer("!train faq backend=openai")
    assert "backend=openai needs the [openai] section" in refused
    assert [] == await app.services.jobs.find()
