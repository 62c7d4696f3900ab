"""One model trained over HTTP and followed live over SSE; models, archive, generation, metrics.

The module trains once (the `trained` fixture) and the tests read that job and model.
"""

import asyncio
import shutil
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.core.services import Services
from tests.http.support import FAST, TOKEN, Api, SseEvent, read_sse, records

pytestmark = pytest.mark.asyncio(loop_scope="session")
STREAM = {"Accept": "text/event-stream", "Authorization": f"Bearer {TOKEN}"}


def load_with_transformers(folder: Path) -> dict[str, Any]:
    """Load the folder as a person would and generate 3 tokens greedily.

    In this process, in a thread: a full run has imported torch here already (the trainer
    tests import it at collection), so this costs no second interpreter importing it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("the cat", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0)
    return {
        "type": model.config.model_type,
        "layers": model.config.n_layer,
        "new_tokens": int(out.shape[1] - ids.shape[1]),
    }


@dataclass
class Trained:
    """The job trained by the fixture, every event its SSE stream carried, and its model."""

    job: dict[str, Any]
    events: list[SseEvent]
    model_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trained(app: App) -> AsyncIterator[Trained]:
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        api = Api(session, TOKEN)
        upload = await api.post("/v1/datasets", json={"name": "poems", "records": records(40)})
        assert 201 == upload.status, upload.text
        made = await api.post("/v1/jobs", json={"dataset": "poems", "hyperparameters": FAST})
        assert 201 == made.status, made.text
        job_id = made.json["id"]
        async with session.get(f"/v1/jobs/{job_id}/events", headers=STREAM) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            received = await asyncio.wait_for(read_sse(response), 240)
        job = (await api.get(f"/v1/jobs/{job_id}")).json
        events = [e for e in received if e.comment is None]  # keep-alives are tested elsewhere
        yield Trained(job, events, job["model_id"])


@pytest.fixture
def services(app: App) -> Services:
    return app.services


async def test_the_sse_stream_follows_the_job_to_succeeded(trained: Trained) -> None:
    ids = [e.id for e in trained.events]
    assert list(range(1, len(ids) + 1)) == ids  # ascending, none missing, none twice
    states = [e.data["status"] for e in trained.events if e.event == "state"]
    assert ["queued", "validating_files", "running", "succeeded"] == states
    assert "state" == trained.events[-1].event  # the stream ended at the final state
    steps = [e.data["step"] for e in trained.events if e.event == "progress"]
    assert steps == sorted(steps) and steps[-1] == FAST["max_steps"]
    assert "succeeded" == trained.job["status"]
    assert trained.model_id and trained.job["result"]["model"] == "poems@v1"


async def test_last_event_id_replays_the_rest_then_ends(api: Api, trained: Trained) -> None:
    job_id = trained.job["id"]
    async with api.session.get(
        f"/v1/jobs/{job_id}/events", headers={**STREAM, "Last-Event-ID": "5"}
    ) as response:
        replayed = await asyncio.wait_for(read_sse(response), 10)
    assert [e.id for e in trained.events[5:]] == [e.id for e in replayed]
    assert [e.data for e in trained.events[5:]] == [e.data for e in replayed]
    last = str(trained.events[-1].id)
    async with api.session.get(
        f"/v1/jobs/{job_id}/events?after=3", headers={**STREAM, "Last-Event-ID": last}
    ) as response:
        assert [] == await asyncio.wait_for(read_sse(response), 10)  # header wins, nothing left


async def test_events_come_in_pages_without_sse(api: Api, trained: Trained) -> None:
    page = (await api.get(f"/v1/jobs/{trained.job['id']}/events?after=2&limit=4")).json
    assert [3, 4, 5, 6] == [e["seq"] for e in page["events"]]
    assert 6 == page["next_after"]


async def test_the_archive_streams_a_folder_transformers_can_load(
    api: Api, trained: Trained, tmp_path: Path
) -> None:
    archive = tmp_path / "model.tar.gz"
    chunks = 0
    async with api.session.get(
        f"/v1/models/{trained.model_id}/archive", headers=api.headers()
    ) as response:
        assert 200 == response.status
        assert "chunked" == response.headers.get("Transfer-Encoding")
        assert "poems-v1.tar.gz" in response.headers["Content-Disposition"]
        with archive.open("wb") as out:
            async for chunk in response.content.iter_any():
                out.write(chunk)
                chunks += 1
    assert chunks >= 1
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "poems-v1"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    loaded = await asyncio.to_thread(load_with_transformers, folder)
    assert ("gpt2", 2, 3) == (loaded["type"], loaded["layers"], loaded["new_tokens"])


async def test_generation_is_saved_and_repeatable_with_a_seed(api: Api, trained: Trained) -> None:
    ask = {"prompt": "the cat", "model": "poems", "max_tokens": 8, "seed": 7, "temperature": 0.9}
    first, second = [await api.post("/v1/generate", json=ask) for _ in range(2)]
    assert (200, 200) == (first.status, second.status), first.text
    assert first.json["text"] == second.json["text"]
    assert "poems@v1" == first.json["model"]
    assert first.json["usage"]["prompt_tokens"] > 0
    assert 0 < first.json["usage"]["completion_tokens"] <= 8
    assert first.json["latency_s"] > 0
    saved = (await api.get("/v1/predictions?model=poems&limit=1")).json
    assert [second.json["prediction_id"]] == [p["id"] for p in saved["predictions"]]
    assert second.json["text"] == saved["predictions"][0]["output"]
    older = await api.get(f"/v1/predictions?before={saved['next_before']}")
    assert first.json["prediction_id"] in [p["id"] for p in older.json["predictions"]]


async def test_too_many_generations_at_once_is_429(
    api: Api, trained: Trained, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.generation, "in_flight", services.generation.max_concurrent)
    reply = await api.post("/v1/generate", json={"prompt": "the cat"})
    assert 429 == reply.status
    assert int(reply.headers["Retry-After"]) > 0


async def test_the_active_model_cannot_be_deleted_and_still_generates(
    api: Api, trained: Trained
) -> None:
    refused = await api.delete(f"/v1/models/{trained.model_id}")
    assert 409 == refused.status
    assert "poems@v1 is the active version" in refused.error["message"]
    assert (await api.get(f"/v1/models/{trained.model_id}")).json["active"]
    reply = await api.post("/v1/generate", json={"prompt": "the dog", "model": "poems@v1"})
    assert 200 == reply.status


async def test_another_version_can_be_activated_then_the_old_one_deleted(
    api: Api, trained: Trained, services: Services, tmp_path: Path
) -> None:
    first = await services.models.resolve(trained.model_id)
    copy = tmp_path / "copy"
    shutil.copytree(first.path, copy)
    second = await services.models.register_local(
        name="poems",
        job_id=trained.job["id"],
        dataset_id=first.dataset_id or "",
        base="micro",
        output_dir=copy,
        metrics={},
    )
    listed = [m["label"] for m in (await api.get("/v1/models")).json["models"]]
    assert ["poems@v2", "poems@v1"] == [x for x in listed if x.startswith("poems@")]
    assert not (await api.get("/v1/models/poems@v2")).json["active"]
    activated = await api.post("/v1/models/poems@v2/activate")
    assert 200 == activated.status and activated.json["active"]
    assert second.id == (await api.get("/v1/models/poems")).json["id"]
    assert 200 == (await api.delete(f"/v1/models/{trained.model_id}")).status
    assert 404 == (await api.get(f"/v1/models/{trained.model_id}")).status
    reply = await api.post("/v1/generate", json={"prompt": "the dog", "model": "poems"})
    assert "poems@v2" == reply.json["model"]


async def test_metrics_count_jobs_requests_and_generations(api: Api, trained: Trained) -> None:
    reply = await api.get("/metrics")
    assert 200 == reply.status
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = _samples(reply.text)
    assert samples['trainbot_jobs{state="succeeded"}'] >= 1
    assert samples["trainbot_generation_latency_seconds_count"] >= 2
    assert "trainbot_event_subscribers" in samples
    by_route = [k for k in samples if k.startswith("trainbot_http_requests_total")]
    assert any('route="/v1/jobs/{id}"' in k and 'status="200"' in k for k in by_route)
    assert not any(trained.job["id"] in k for k in by_route)  # canonical paths only


def _samples(text: str) -> dict[str, float]:
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in pairs}
