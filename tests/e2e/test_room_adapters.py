"""Transcript: a LoRA adapter trained from a room on a pretrained base folder, continued as
the base of the next adapter, merged with !merge, compared with !compare."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.app import App
from bot.dev.homeserver import SynapseServer
from tests.support.pretrained import build_base
from tests.support.services import is_final_state, records, wait_for

from .conftest import E2E, MakePerson
from .trainbot import Room, Trainbots, hyper, open_room

pytestmark = E2E


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trainbot(
    synapse: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[App, str]]:
    """A Trainbot whose trainer.base_dirs hold the tiny pretrained GPT-2 (with a chat
    template), and the dataset poems."""
    pretrained = build_base(tmp_path_factory.getbasetemp(), "gpt2")
    bots = Trainbots(synapse, tmp_path_factory.mktemp("room-adapters"))
    app, user_id = await bots.start(
        allowed=["@bob*"], admins=["@ann*"], trainer={"base_dirs": [str(pretrained.parent)]}
    )
    await app.services.datasets.upload_records("poems", records())
    yield app, user_id
    await bots.stop()


async def train(app: App, room: Room, command: str) -> None:
    ack = await room.answer(command)
    found = re.search(r"Queued job (\w+)", ack)
    assert found, ack
    events = await wait_for(app.services, found[1], is_final_state)
    assert "succeeded" == events[-1].data["status"], events[-1].data


async def test_train_continue_merge_and_compare_adapters_from_a_room(
    trainbot: tuple[App, str], make_person: MakePerson
) -> None:
    app, bot_id = trainbot
    ann = await make_person("ann")
    room = await open_room(app, ann, bot_id)
    base = "pretrained-gpt2"  # a folder under trainer.base_dirs

    refused = await room.answer(f"!train poems method=lora r=0 base={base} {hyper()}")
    assert "r must be between 1 and 1024, got 0" in refused
    lora = f"method=lora r=4 {hyper(learning_rate=0.01)}"
    await train(app, room, f"!train poems base={base} name=poems-lora {lora}")
    adapter = await app.services.models.resolve("poems-lora@v1")
    assert ("adapter", base) == (adapter.kind, adapter.base)

    # The adapter version as the next base: other LoRA settings are refused in chat words,
    # then method=lora continues it, a new adapter on the same pretrained base.
    refused = await room.answer(f"!train poems base=poems-lora@v1 method=lora r=8 {hyper()}")
    expected = (
        "method=lora on a LoRA adapter continues that adapter with its own settings; leave "
        "out r=8 (the adapter has 4), or merge it first (!merge) to train a new adapter on "
        "the merged model"
    )
    assert expected in refused
    short = hyper(max_steps=2, eval_every=2, save_every=2)
    await train(app, room, f"!train poems base=poems-lora@v1 name=poems-more method=lora {short}")
    more = await app.services.models.resolve("poems-more@v1")
    assert ("adapter", base, adapter.base_path, "poems-lora@v1") == (
        more.kind,
        more.base,
        more.base_path,
        more.metrics["continued_from"],
    )

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
    # A pretrained base's greedy answer may span lines (this one's is mostly line breaks
    # after 20 steps on poems): cut at the second label instead of splitting lines.
    answers = compared.split("\nPrompt: the cat\npoems-lora@v1: ", 1)[1]
    first, second = answers.split("\npoems-lora@v2: ", 1)
    assert first == second and first, compared
