"""Transcript: a job on a Ray cluster from a room (real Synapse, a real local Ray head).

The room sees what it sees for a local job: the acknowledgement, one progress message
edited in place as the run's events arrive from the cluster, and the final notice. The
head is this module's own (tests/ray's `RayHead` on 127.0.0.1, its own process group),
stopped at the end together with this process's connection to it, so tests/ray later
finds no cluster running, as its first test expects.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.ray.conftest import RayHead
from tests.support.services import records

from . import trainbot
from .conftest import E2E, MakePerson
from .trainbot import StartBot, edit_of, hyper, notice_containing, open_room

pytestmark = [*E2E, pytest.mark.slow, pytest.mark.timeout(600)]
trainbots, start_trainbot = trainbot.trainbots, trainbot.start_trainbot  # shared fixtures
WITHIN_S = 300.0  # a Ray Train run starts its controller and worker processes first


@pytest_asyncio.fixture(loop_scope="session")
async def ray_cluster() -> AsyncIterator[RayHead]:
    head = RayHead()
    await asyncio.to_thread(head.start)
    yield head
    import ray

    ray.shutdown()  # leave it before it goes, or this process waits for it
    await asyncio.to_thread(head.stop)


async def test_a_ray_job_from_a_room_edits_its_progress_in_place_and_ends_with_a_notice(
    start_trainbot: StartBot, make_person: MakePerson, ray_cluster: RayHead, tmp_path: Path
) -> None:
    ann = await make_person("ann")
    ray = {
        "address": ray_cluster.address,
        "storage_path": str(tmp_path / "shared"),
        "namespace": "trainbot-e2e",
        "poll_interval_s": 0.2,
    }
    app, bot_id = await start_trainbot(allowed=[ann.user_id], ray=ray)
    await app.services.datasets.upload_records("poems", records(48))
    room = await open_room(app, ann, bot_id)

    ack = await room.answer(f"!train poems backend=ray {hyper(max_steps=60)}")
    found = re.search(r"^Queued job (\w+): poems", ack)
    assert found, ack
    job_id = found[1]
    progress = await room.wait(notice_containing(f"Training poems (job {job_id})"), WITHIN_S)
    progress_id = str(progress["event_id"])
    last = await room.wait(edit_of(progress_id, lambda body: "step 60/60" in body), WITHIN_S)
    assert "loss " in last["content"]["m.new_content"]["body"]
    final = await room.wait(notice_containing(f"Job {job_id} succeeded"), WITHIN_S)
    assert f"✅ Job {job_id} succeeded: model poems@v1 is ready." in final["content"]["body"]
    assert "ray" == (await app.services.jobs.get(job_id)).backend
