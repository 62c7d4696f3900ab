"""GenerationService: chat messages, n answers, streaming, refusals and adapters, on a real
store and the real generation worker with a tiny pretrained chat base."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import Invalid, NotFound, TooMany
from bot.core.generation import Generation, GenerationService
from bot.core.models import ModelService
from storage.store import Store
from tests.support.pretrained import build_base
from trainer.spec import GenerateParams, Piece
from trainer.workers.generation import GenerationWorker

GREEDY = GenerateParams(max_tokens=12, temperature=0, repetition_penalty=1.0)
CHAT = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "the cat"})


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[GenerationService]:
    store = await Store.open(tmp_path / "data")
    worker = GenerationWorker(timeout_s=120)
    yield GenerationService(store, ModelService(store), worker, max_concurrent=2, max_new_tokens=64)
    await worker.stop()
    await store.close()


async def register(service: GenerationService, name: str, folder: Path, tmp: Path) -> str:
    copy = shutil.copytree(folder, tmp / name)
    row = await service.models.register_local(
        name=name, job_id="", dataset_id="", base="", output_dir=copy, metrics={}
    )
    return row.label


async def test_bad_requests_are_refused_before_any_work(
    service: GenerationService, tmp_path: Path
) -> None:
    (tmp_path / "unused").mkdir()
    (tmp_path / "unused" / "config.json").write_text("{}")  # refused before it is loaded
    label = await register(service, "m", tmp_path / "unused", tmp_path / "registered")

    async def ask(**changes: object) -> None:
        request: dict[str, object] = {
            "model": label,
            "params": GREEDY,
            "requested_by": "@ann:x",
            "messages": CHAT,
        }
        await service.generate("", **{**request, **changes})  # type: ignore[arg-type]

    with pytest.raises(Invalid, match="message 1: role must be one of system, user, assistant"):
        await ask(messages=[{"role": "robot", "content": "hi"}])
    with pytest.raises(Invalid, match="message 2: content must be text"):
        await ask(messages=[{"role": "user", "content": "hi"}, {"role": "user", "content": 3}])
    with pytest.raises(Invalid, match="the last message must be the user's"):
        await ask(messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(Invalid, match="n must be between 1 and 8"):
        await ask(n=9)
    with pytest.raises(NotFound):
        await ask(model="nothing@v3")
    service.in_flight = service.max_concurrent
    with pytest.raises(TooMany):
        await ask()
    service.in_flight = 0
    assert [] == await service.predictions()


@pytest.mark.slow
async def test_a_chat_streams_pieces_that_make_the_saved_answer(
    service: GenerationService, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    label = await register(
        service, "chat", build_base(tmp_path_factory.getbasetemp(), "llama"), tmp_path
    )

    events = [
        e
        async for e in service.stream(
            "", model=label, params=GREEDY, requested_by="@ann:x", messages=CHAT, n=2
        )
    ]
    pieces = [e for e in events if isinstance(e, Piece)]
    done = events[-1]
    whole = await service.generate(
        "", model=label, params=GREEDY, requested_by="@ann:x", messages=CHAT
    )

    assert isinstance(done, Generation)
    assert [c.text for c in done.choices] == [
        "".join(p.text for p in pieces if p.index == i) for i in (0, 1)
    ]
    assert done.choices[0] == done.choices[1]  # greedy: the same answer twice
    assert whole.text == done.text
    saved = await service.predictions()
    assert [list(CHAT)] * 2 == [json.loads(p.prompt) for p in saved]
    assert done.prompt_tokens == whole.prompt_tokens > 0


@pytest.mark.slow
async def test_leaving_a_stream_cancels_it_and_saves_nothing(
    service: GenerationService, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    label = await register(
        service, "chat", build_base(tmp_path_factory.getbasetemp(), "llama"), tmp_path
    )
    long = GenerateParams(max_tokens=64, temperature=0)
    stream = service.stream("the cat", model=label, params=long, requested_by="@ann:x")

    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert isinstance(first, Piece)
    worker = service.worker
    assert isinstance(worker, GenerationWorker)
    assert 0 == await worker.active_sequences()
    assert [] == await service.predictions()
    assert 0 == service.in_flight
