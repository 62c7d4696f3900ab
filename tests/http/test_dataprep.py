"""Data preparation over HTTP: estimates (200), started tasks (202), tasks, refusals.

The refusals without an API key use the session's shared App; the rest run against an
own App whose `openai` client talks to the fake server.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from tests.fakes.openai_server import FakeOpenAI
from tests.http.support import TOKEN, Api, http_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
MESSY = [{"text": f"<i>Line</i>  {i}"} for i in range(12)]
SPEC = {
    "name": "heroes",
    "template": "Describe a {race} {class}",
    "variables": {"race": ["human", "elf", "dwarf"], "class": ["ranger", "wizard", "bard", "monk"]},
}
TOML_SPEC = """
name = "tomlheroes"
template = "Describe a {race} {class}"
prompt = "{class} ({race})"
max_tokens = 40
confirm = true

[variables]
race = ["human", "elf", "dwarf"]
class = ["ranger", "wizard", "bard", "monk"]
"""
NO_KEY = "set [openai] api_key"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def keyed(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "max_retries": 1}
    app = App(http_settings(tmp_path_factory.mktemp("http-dataprep") / "data", openai=openai))
    await app.start()
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        client = Api(session, TOKEN)
        stored = await client.post("/v1/datasets", json={"name": "messy", "records": MESSY})
        assert 201 == stored.status, stored.text
        yield client
    await app.stop()


async def finished(api: Api, task_id: str, within_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        task = (await api.get(f"/v1/tasks/{task_id}")).json
        if task["status"] != "running":
            return dict(task)
        assert time.monotonic() < deadline, f"task {task_id} still running"
        await asyncio.sleep(0.05)


async def test_without_a_key_every_route_says_what_to_configure(api: Api) -> None:
    stored = await api.post("/v1/datasets", json={"name": "prep-nokey", "records": MESSY})
    assert 201 == stored.status, stored.text

    optimize = await api.post("/v1/datasets/prep-nokey/optimize", json={"confirm": True})
    generate = await api.post("/v1/datasets/generate", json={**SPEC, "confirm": True})

    for refused in (optimize, generate):
        assert 422 == refused.status
        assert NO_KEY in refused.error["message"]
    assert {"tasks": []} == (await api.get("/v1/tasks")).json
    versions = (await api.get("/v1/datasets")).json["datasets"]
    assert ["prep-nokey@v1"] == [d["label"] for d in versions if d["name"] == "prep-nokey"]


async def test_the_routes_need_the_token(api: Api) -> None:
    for method, path in (
        ("POST", "/v1/datasets/x/optimize"),
        ("POST", "/v1/datasets/generate"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/tasks/abc"),
    ):
        assert 401 == (await api.call(method, path, token=None, json={})).status


async def test_an_estimate_is_200_and_stores_nothing(keyed: Api, fake: FakeOpenAI) -> None:
    calls, tasks = len(fake.chat_requests), (await keyed.get("/v1/tasks")).json
    answered = await keyed.post("/v1/datasets/messy@v1/optimize", json={})

    assert 200 == answered.status, answered.text
    body = answered.json
    assert (None, "optimize", "messy@v1", 12, 12) == (
        body["task"],
        body["estimate"]["kind"],
        body["estimate"]["target"],
        body["estimate"]["items"],
        body["estimate"]["calls"],
    )
    assert body["estimate"]["summary"].startswith("messy@v1: 12 records → 12 API calls")
    assert calls == len(fake.chat_requests)
    assert tasks == (await keyed.get("/v1/tasks")).json


async def test_a_confirmed_optimize_is_202_and_its_task_ends_with_a_new_version(
    keyed: Api, fake: FakeOpenAI
) -> None:
    fake.chat_reply = lambda m: m[-1]["content"].replace("<i>", "").replace("</i>", "")
    started = await keyed.post(
        "/v1/datasets/messy/optimize", json={"confirm": True, "instructions": "Drop tags."}
    )

    assert 202 == started.status, started.text
    task = started.json["task"]
    assert ("optimize", "running", 12) == (task["kind"], task["status"], task["progress"]["total"])
    done = await finished(keyed, task["id"])
    assert ("succeeded", "messy@v2", None) == (done["status"], done["result_label"], done["error"])
    assert {"done": 12, "total": 12, "invalid": 0} == done["progress"]
    assert (12, 12, []) == (
        done["report"]["stored"],
        done["report"]["changed"],
        done["report"]["invalid"],
    )
    version = (await keyed.get(f"/v1/datasets/{done['result_dataset_id']}")).json
    assert ("messy@v2", 12) == (version["label"], version["examples"])
    assert task["id"] in [t["id"] for t in (await keyed.get("/v1/tasks")).json["tasks"]]


async def test_generate_from_json_and_from_toml(keyed: Api, fake: FakeOpenAI) -> None:
    fake.chat_reply = lambda m: f"Story: {m[-1]['content']}"
    estimate = await keyed.post("/v1/datasets/generate", json=SPEC)
    assert 200 == estimate.status, estimate.text
    assert (12, 12 * 256, True) == (
        estimate.json["estimate"]["items"],
        estimate.json["estimate"]["output_tokens"],
        estimate.json["estimate"]["output_is_limit"],
    )

    started = await keyed.post(
        "/v1/datasets/generate", data=TOML_SPEC, headers={"Content-Type": "application/toml"}
    )
    assert 202 == started.status, started.text
    done = await finished(keyed, started.json["task"]["id"])
    assert ("succeeded", "tomlheroes@v1", 12) == (
        done["status"],
        done["result_label"],
        done["report"]["stored"],
    )
    asked = [r.json for r in fake.chat_requests if "Describe a" in r.json["messages"][0]["content"]]
    assert 12 == len(asked) and all(r["max_tokens"] == 40 for r in asked)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/datasets/nope/optimize", {}, 404, "no dataset 'nope'"),
        ("/v1/datasets/messy/optimize", {"instructions": ""}, 422, "instructions"),
        ("/v1/datasets/messy/optimize", {"confirm": "yes"}, 422, "confirm"),
        ("/v1/datasets/messy/optimize", {"bogus": 1}, 422, "bogus"),
        (
            "/v1/datasets/generate",
            {**SPEC, "template": "Describe a {race} {hat}"},
            422,
            "placeholder {hat} has no list",
        ),
        (
            "/v1/datasets/generate",
            {**SPEC, "variables": {"race": ["elf"], "class": ["x"]}},
            422,
            "1 combinations make 1 pairs; a dataset needs at least 10",
        ),
        (
            "/v1/datasets/generate",
            {**SPEC, "temperature": 5.0},
            422,
            "temperature must be between 0 and 2",
        ),
        ("/v1/datasets/generate", {**SPEC, "name": "bad name"}, 422, "not allowed"),
    ],
)
async def test_wrong_input_is_refused_and_nothing_is_stored(
    keyed: Api, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    before = (await keyed.get("/v1/tasks")).json
    refused = await keyed.post(path, json={**body, "confirm": body.get("confirm", True)})
    assert status == refused.status, refused.text
    assert message in refused.text
    assert before == (await keyed.get("/v1/tasks")).json


async def test_malformed_toml_and_an_unknown_task_are_refused(keyed: Api) -> None:
    broken = await keyed.post(
        "/v1/datasets/generate", data="name = ", headers={"Content-Type": "application/toml"}
    )
    assert 422 == broken.status
    assert broken.error["message"].startswith("the body is not valid TOML")
    missing = await keyed.get("/v1/tasks/nosuchtask")
    assert (404, "no task 'nosuchtask'; GET /v1/tasks lists them") == (
        missing.status,
        missing.error["message"],
    )
