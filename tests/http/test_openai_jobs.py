"""A remote (OpenAI) job driven over HTTP: created, followed over SSE, its model generates.

Its own App (HTTP on a free port, the real `openai` client pointed at the fake server),
so the session's shared App keeps running without an API key.
"""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from tests.fakes.openai_server import FakeOpenAI, answer, failing_script
from tests.http.support import TOKEN, Api, http_settings, read_sse

pytestmark = pytest.mark.asyncio(loop_scope="session")
STREAM = {"Accept": "text/event-stream", "Authorization": f"Bearer {TOKEN}"}
FAQ = [{"prompt": f"What is {i} + {i}?", "completion": f"{2 * i}."} for i in range(12)]
BASE = "gpt-4o-mini-2024-07-18"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "poll_interval_s": 0.02}
    app = App(http_settings(tmp_path_factory.mktemp("http-openai") / "data", openai=openai))
    await app.start()
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        client = Api(session, TOKEN)
        stored = await client.post("/v1/datasets", json={"name": "faq", "records": FAQ})
        assert 201 == stored.status, stored.text
        yield client
    await app.stop()


async def test_a_remote_job_is_followed_over_sse_and_its_model_generates(
    api: Api, fake: FakeOpenAI
) -> None:
    made = await api.post(
        "/v1/jobs", json={"dataset": "faq", "backend": "openai", "hyperparameters": {"epochs": 2}}
    )
    assert 201 == made.status, made.text
    job = made.json
    assert ("openai", "queued") == (job["backend"], job["status"])

    async with api.session.get(f"/v1/jobs/{job['id']}/events", headers=STREAM) as response:
        events = await asyncio.wait_for(read_sse(response), 60)
    states = [e.data["status"] for e in events if e.event == "state"]
    assert ["queued", "validating_files", "running", "succeeded"] == states
    steps = [(e.data["step"], e.data["loss"]) for e in events if e.event == "progress"]
    assert [(1, 1.9), (2, 1.4), (3, 1.1)] == steps
    assert [e.id for e in events] == sorted(e.id for e in events if e.id is not None)

    done = (await api.get(f"/v1/jobs/{job['id']}")).json
    remote_model = f"ft:{BASE}:trainbot:faq:{done['remote_id']}"
    assert ("succeeded", "faq@v1") == (done["status"], done["result"]["model"])
    [model] = [m for m in (await api.get("/v1/models")).json["models"] if m["name"] == "faq"]
    assert ("openai", True) == (model["backend"], model["active"])

    generated = await api.post("/v1/generate", json={"prompt": "What is 5 + 5?", "model": "faq"})
    assert 200 == generated.status, generated.text
    assert answer("What is 5 + 5?") == generated.json["text"]
    assert remote_model == fake.seen("POST", "/v1/chat/completions")[-1].json["model"]


async def test_a_remote_failure_and_a_cancel_over_http(api: Api, fake: FakeOpenAI) -> None:
    fake.next_script = failing_script("Training file has too few assistant tokens")
    failing = (
        await api.post(
            "/v1/jobs", json={"dataset": "faq", "backend": "openai", "name": "faq-fails"}
        )
    ).json
    failed = await api.wait_status(failing["id"], "failed", within_s=60)
    assert "Training file has too few assistant tokens" == failed["error"]

    fake.hold_at = 1  # the next job stays in "running" until cancelled
    try:
        held = (
            await api.post(
                "/v1/jobs", json={"dataset": "faq", "backend": "openai", "name": "faq-held"}
            )
        ).json
        running = await api.wait_status(held["id"], "running", within_s=60)
        cancelled = await api.post(f"/v1/jobs/{held['id']}/cancel")
        assert 200 == cancelled.status, cancelled.text
        await api.wait_status(held["id"], "cancelled", within_s=60)
    finally:
        fake.release()
    assert fake.jobs[running["remote_id"]].status == "cancelled"
    assert fake.seen("POST", f"/v1/fine_tuning/jobs/{running['remote_id']}/cancel")


async def test_a_dataset_breaking_openais_rules_is_refused_before_upload(
    api: Api, fake: FakeOpenAI
) -> None:
    uploads = len(fake.uploads)
    lines = [{"text": f"a plain sentence number {i}"} for i in range(12)]
    assert 201 == (await api.post("/v1/datasets", json={"name": "plain", "records": lines})).status
    refused = await api.post("/v1/jobs", json={"dataset": "plain", "backend": "openai"})
    assert 422 == refused.status, refused.text
    assert "plain text examples cannot be fine-tuned at OpenAI" in refused.error["message"]
    assert uploads == len(fake.uploads)
