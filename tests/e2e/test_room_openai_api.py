"""A fine-tuning job created with the official `openai` client is followed in its room.

The client names the room in `metadata.room_id` (an admin token may name any room): the
room gets the same progress message, edited as the job trains, and the same final
notice as a job started there with `!train`.
"""

from __future__ import annotations

from openai import AsyncOpenAI

from tests.openai_api.support import chat_rows, jsonl
from tests.support.server_thread import free_port

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, edit_of, new_body, notice_containing, open_room, step

pytestmark = E2E
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures
TOKEN = "api-token-for-the-openai-client"


async def test_a_job_created_by_the_client_shows_its_progress_in_the_room(
    make_person: MakePerson, start_trainbot: StartBot
) -> None:
    ann = await make_person("ann")
    port = free_port()
    http = {"enabled": True, "port": port, "tokens": [TOKEN]}
    app, bot_id = await start_trainbot(allowed=[ann.user_id], http=http)
    room = await open_room(app, ann, bot_id)
    base_url = f"http://127.0.0.1:{port}/openai/v1"
    async with AsyncOpenAI(base_url=base_url, api_key=TOKEN, max_retries=0) as client:
        uploaded = await client.files.create(
            file=("talks.jsonl", jsonl(chat_rows(12))), purpose="fine-tune"
        )
        job = await client.fine_tuning.jobs.create(
            training_file=uploaded.id,
            model="micro",
            suffix="talks",
            metadata={"room_id": room.room_id},
            hyperparameters={"n_epochs": 1, "batch_size": 4},
        )
    job_id = job.id.removeprefix("ftjob-")
    progress = await room.wait(notice_containing(f"Training talks (job {job_id})"), 120)
    final = await room.wait(notice_containing(f"✅ Job {job_id} succeeded"), 120)
    edits = [new_body(e) for e in room.timeline if edit_of(str(progress["event_id"]))(e)]
    steps = [step(body) for body in edits if step(body) is not None]
    assert steps and steps == sorted(steps), edits  # the message followed the steps
    assert "talks@v1" in final["content"]["body"]
