"""Transcripts: following, controlling and using training jobs from a room.

One Trainbot serves the whole module (it trains `poems@v1` once, in the fixture); each
test opens its own room. Admins match `@ann*`, plain users `@bob*`.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.app import App
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from bot.dev.homeserver import SynapseServer
from tests.support.services import FAST, is_final_state, records, wait_for

from .conftest import E2E, MakePerson
from .trainbot import (
    Room,
    Trainbots,
    edit_of,
    hyper,
    join,
    new_body,
    notice_containing,
    open_room,
    step,
)

pytestmark = E2E


@dataclass
class Trainbot:
    """The module's bot: its App and its Matrix user id."""

    app: App
    user_id: str

    @property
    def services(self) -> Services:
        return self.app.services


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trainbot(
    synapse: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Trainbot]:
    """A Trainbot with the datasets poems, stories and songs, and the model poems@v1."""
    bots = Trainbots(synapse, tmp_path_factory.mktemp("room-jobs"))
    app, user_id = await bots.start(allowed=["@bob*"], admins=["@ann*"])
    bot = Trainbot(app, user_id)
    for seed, name in enumerate(("poems", "stories", "songs")):
        await bot.services.datasets.upload_records(name, records(seed=seed))
    job = await bot.services.jobs.submit(
        JobRequest("poems", hyperparameters=dict(FAST)), requested_by="@ann:fixture"
    )
    await wait_for(bot.services, job.id, is_final_state)
    assert "succeeded" == (await bot.services.jobs.get(job.id)).status
    yield bot
    await bots.stop()


async def start_job(room: Room, command: str) -> tuple[str, str]:
    """`!train …` in the room; (job id, event id of its progress message) once it runs."""
    ack = await room.answer(command)
    found = re.search(r"Queued job (\w+): (\S+)", ack)
    assert found, ack
    job_id, name = found[1], found[2]
    progress = await room.wait(notice_containing(f"Training {name} (job {job_id})"), 120)
    return job_id, str(progress["event_id"])


def edits(room: Room, event_id: str) -> list[str]:
    """The new bodies of every edit of `event_id` the person has seen so far, in order."""
    return [new_body(e) for e in room.timeline if edit_of(event_id)(e)]


async def test_status_and_jobs_while_a_job_trains_then_cancel(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    room = await open_room(trainbot.app, ann, trainbot.user_id)

    job_id, progress = await start_job(room, f"!train stories {hyper(max_steps=5000)}")
    await room.wait(edit_of(progress, lambda body: (step(body) or 0) >= 1), 60)

    asked = time.monotonic()
    status = await room.answer("!status")
    assert time.monotonic() - asked < 3.0  # training does not hold the bot up
    assert "1 running" in status and "1 succeeded" in status
    assert f"Training stories (job {job_id}) · [" in status and "/5000 · loss " in status

    one = await room.answer(f"!status {job_id}")
    assert one.startswith(f"Training stories (job {job_id}) · [")
    assert "\nstatus: running" in one and "poems" not in one

    reply = await room.reply_to(await room.ask("!jobs running"))
    plain, html = reply["content"]["body"], reply["content"]["formatted_body"]
    header, rule, row = plain.splitlines()[1:4]
    assert ["job", "model", "status", "by", "created"] == header.split()
    assert set(rule.replace(" ", "")) == {"-"}
    assert [job_id, "stories", "running", ann.user_id] == row.split()[:4]
    assert "<table>" in html and "<th>status</th>" in html
    assert f"<tr><td>{job_id}</td><td>stories</td><td>running</td>" in html

    assert f"Job {job_id} (stories): cancelling at the next step." == await room.answer(
        f"!cancel {job_id}"
    )
    await room.wait(notice_containing(f"⏹ Job {job_id} (stories) was cancelled."), 60)
    assert edits(room, progress)[-1].endswith(" · cancelled")
    models = await room.answer("!models")
    assert "poems@v1 *" in models and "stories" not in models  # nothing was registered
    assert (await room.answer(f"!status {job_id}")).endswith("status: cancelled")


async def test_pause_then_resume_continues_where_it_stopped(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    ann = await make_person("ann")
    room = await open_room(trainbot.app, ann, trainbot.user_id)
    # Unloaded, micro runs dozens of steps a second: pause as soon as training shows.
    job_id, progress = await start_job(
        room, f"!train songs {hyper(max_steps=120, eval_every=60, save_every=60)}"
    )
    await room.wait(edit_of(progress, lambda body: (step(body) or 0) >= 1), 60)

    pausing = await room.answer(f"!pause {job_id}")
    assert f"Job {job_id} (songs): pausing at the next checkpoint." == pausing
    paused = await room.wait(edit_of(progress, lambda body: body.endswith(" · paused")), 60)
    paused_at = step(new_body(paused))
    assert paused_at is not None and 1 <= paused_at < 120
    assert (await room.answer(f"!status {job_id}")).endswith("status: paused")
    seen_before_resume = len(edits(room, progress))

    resumed = await room.answer(f"!resume {job_id}")
    assert f"Job {job_id} (songs): queued again; it continues where it paused." == resumed
    final = await room.wait(notice_containing(f"✅ Job {job_id} succeeded"), 120)
    assert "songs@v1 is ready" in final["content"]["body"]

    after = [step(body) for body in edits(room, progress)[seen_before_resume:]]
    assert after and all(s is not None and s >= paused_at for s in after)  # never from 0
    assert "step 120/120" in edits(room, progress)[-1]


async def test_activate_generate_and_delete_the_active_model(
    trainbot: Trainbot, make_person: MakePerson
) -> None:
    services = trainbot.services
    v1 = await services.models.resolve("poems@v1")
    assert v1.job_id is not None and v1.dataset_id is not None
    copy = Path(v1.path).parent / "copy-of-v1"
    shutil.copytree(v1.path, copy)
    v2 = await services.models.register_local(
        name="poems",
        job_id=v1.job_id,
        dataset_id=v1.dataset_id,
        base=v1.base,
        output_dir=copy,
        metrics=v1.metrics,
    )
    ann, bob = await make_person("ann"), await make_person("bob")
    room = await open_room(trainbot.app, ann, trainbot.user_id)
    bobs = await join(room, bob)

    assert "Sorry, only admins may use !activate." == await bobs.answer("!activate poems@v2")
    assert "poems@v1 *" in await room.answer("!models")  # nothing changed

    command = await room.ask("!generate max_tokens=24 seed=1 the cat")
    await room.wait_until_typing(trainbot.user_id)
    answer = (await room.reply_to(command, 60))["content"]["body"]
    assert answer.startswith("the cat") and "\n— poems@v1, " in answer

    assert f"poems@v2 ({v2.id}) is now active." == await room.answer("!activate poems@v2")
    assert "\n— poems@v2, " in await room.answer("!generate max_tokens=4 the dog", 60)
    named = await room.answer("!generate model=poems@v1 max_tokens=4 the dog", 60)
    assert named.startswith("the dog") and "\n— poems@v1, " in named

    refused = await room.answer("!delete model poems@v2")
    assert "poems@v2 is the active version; activate another version first" == refused
    assert "\n— poems@v2, " in await room.answer("!generate max_tokens=4 a boat", 60)
