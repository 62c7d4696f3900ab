"""Transcript: a LoRA adapter trained from a room, merged with !merge, compared with !compare."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.app import App
from bot.core.jobs.request import JobRequest
from bot.dev.homeserver import SynapseServer
from tests.support.services import FAST, is_final_state, records, wait_for

from .conftest import E2E, MakePerson
from .trainbot import Trainbots, hyper, open_room

pytestmark = E2E


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trainbot(
    synapse: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[App, str]]:
    """A Trainbot with the dataset poems and the full model poems@v1 trained on it."""
    bots = Trainbots(synapse, tmp_path_factory.mktemp("room-adapters"))
    app, user_id = await bots.start(allowed=["@bob*"], admins=["@ann*"])
    await app.services.datasets.upload_records("poems", records())
    job = await app.services.jobs.submit(
        JobRequest("poems", hyperparameters=dict(FAST)), requested_by="@ann:fixture"
    )
    await wait_for(app.services, job.id, is_final_state)
    yield app, user_id
    await bots.stop()


async def test_train_an_adapter_merge_it_and_compare_it_from_a_room(
    trainbot: tuple[App, str], make_person: MakePerson
) -> None:
    app, bot_id = trainbot
    ann = await make_person("ann")
    room = await open_room(app, ann, bot_id)

    refused = await room.answer(f"!train poems method=lora r=0 base=poems@v1 {hyper()}")
    assert "r must be between 1 and 1024, got 0" in refused
    ack = await room.answer(
        f"!train poems base=poems@v1 name=poems-lora method=lora r=4 {hyper(learning_rate=0.01)}"
    )
    found = re.search(r"Queued job (\w+)", ack)
    assert found, ack
    events = await wait_for(app.services, found[1], is_final_state)
    assert "succeeded" == events[-1].data["status"], events[-1].data
    adapter = await app.services.models.resolve("poems-lora@v1")
    assert "adapter" == adapter.kind

    refused = await room.answer("!delete model poems@v1")
    assert "poems@v1 is the active version" in refused  # and the base of poems-lora@v1

    merged = await room.answer("!merge poems-lora@v1", 120)
    v2 = await app.services.models.resolve("poems-lora@v2")
    expected = (
        f"Merged poems-lora@v1 into a full model: poems-lora@v2 ({v2.id}). "
        "Use !activate poems-lora@v2 to generate with it."
    )
    assert (expected, "full") == (merged, v2.kind)

    compared = await room.answer("!compare poems-lora@v1 poems-lora@v2 the cat", 180)
    lines = compared.splitlines()
    assert "Compared on poems@v1:" == lines[0]
    losses = [re.search(r"eval loss ([\d.]+)", line) for line in lines[1:3]]
    assert all(losses) and losses[0][1] == losses[1][1], compared  # type: ignore[index]
    assert "Prompt: the cat" == lines[3]
    answers = [line.split(": ", 1)[1] for line in lines[4:6]]
    assert answers[0] == answers[1] and answers[0], compared
