"""GET /v1/sources and POST /v1/sources/{name}/fetch against a local JSON endpoint."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import App
from bot.settings import Settings
from tests.http.support import TOKEN, Api
from tests.support.json_server import JsonServer

SECRET = "Bearer very-secret-news-token"
ITEMS = [f"story {n}: the cat sat on the mat and the dog ran to the park" for n in range(4)]


def settings(data_dir: Path, url: str) -> Settings:
    news = {
        "name": "news",
        "url": url + "/api?key=query-secret-1",
        "select": "items",
        "dataset": "news",
        "every": "1h",
        "secret_headers": {"Authorization": "env:NEWS"},
    }
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "http": {"enabled": True, "port": 0, "tokens": [TOKEN]},
            "matrix": {"enabled": False},
            "trainer": {"default_base": "micro", "min_examples": 3},
            # Fetches happen when a test asks, never on a timer.
            "scheduler": {"enabled": False},
            "sources": [news],
        }
    )


@pytest.fixture
async def source() -> AsyncIterator[JsonServer]:
    server = JsonServer()
    await server.start()
    server.answer({"items": ITEMS})
    yield server
    await server.stop()


@pytest.fixture
async def api(
    source: JsonServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    monkeypatch.setenv("NEWS", SECRET)
    app = App(settings(tmp_path / "data", source.url))
    await app.start()
    try:
        async with aiohttp.ClientSession(base_url=app.http.url) as session:
            yield Api(session, TOKEN)
    finally:
        await app.stop()


async def listed(api: Api, **query: Any) -> dict[str, Any]:
    reply = await api.get("/v1/sources", params=query)
    assert 200 == reply.status, reply.text
    [news] = reply.json["sources"]
    return dict(news)


async def test_sources_are_listed_without_secrets(api: Api) -> None:
    reply = await api.get("/v1/sources")
    news = (await listed(api)) | {"url": None}
    assert {
        "name": "news",
        "url": None,
        "method": "GET",
        "select": "items",
        "dataset": "news",
        "every": "1h",
        "cron": None,
        "room_id": None,
        "next_run": None,
        "running": False,
        "fetches": [],
    } == news
    assert reply.json["sources"][0]["url"].endswith("/api")
    assert "very-secret" not in reply.text and "query-secret" not in reply.text


async def test_fetch_now_writes_a_version_and_the_list_shows_it(
    api: Api, source: JsonServer
) -> None:
    reply = await api.post("/v1/sources/news/fetch")
    assert 200 == reply.status, reply.text
    fetched = reply.json
    assert (True, 4, 4, 0, "news@v1", None) == (
        fetched["ok"],
        fetched["items"],
        fetched["new_items"],
        fetched["skipped"],
        fetched["dataset_label"],
        fetched["error"],
    )
    assert fetched["trigger"].startswith("api:") and TOKEN not in reply.text
    assert SECRET == source.requests[-1].headers["Authorization"]
    dataset = (await api.get(f"/v1/datasets/{fetched['dataset_id']}")).json
    assert ("news@v1", 4) == (dataset["label"], dataset["examples"])

    again = (await api.post("/v1/sources/news/fetch")).json
    assert (True, 0, None) == (again["ok"], again["new_items"], again["dataset_label"])
    assert [again, fetched] == (await listed(api))["fetches"]
    assert [again] == (await listed(api, fetches="1"))["fetches"]


async def test_a_failed_fetch_answers_200_with_the_reason_and_writes_nothing(
    api: Api, source: JsonServer
) -> None:
    source.answer({"results": ITEMS})
    reply = await api.post("/v1/sources/news/fetch")
    assert 200 == reply.status
    assert (False, "select items: key 'items' not found at the top level") == (
        reply.json["ok"],
        reply.json["error"],
    )
    assert [] == (await api.get("/v1/datasets")).json["datasets"]


async def test_an_unknown_source_is_404_naming_the_known_ones(api: Api) -> None:
    reply = await api.post("/v1/sources/weather/fetch")
    assert 404 == reply.status
    assert "no source 'weather' (known: news)" == reply.error["message"]


async def test_a_second_fetch_while_one_runs_is_409(api: Api, source: JsonServer) -> None:
    source.hold()
    first = asyncio.create_task(api.post("/v1/sources/news/fetch"))
    await source.wait_for_request()
    assert (await listed(api))["running"]
    second = await api.post("/v1/sources/news/fetch")
    assert (409, "conflict") == (second.status, second.error["code"])
    assert "being fetched right now" in second.error["message"]
    source.release()
    assert (200, True) == ((done := await first).status, done.json["ok"])


async def test_a_token_is_needed_and_a_bad_query_is_422(api: Api) -> None:
    assert 401 == (await api.get("/v1/sources", token=None)).status
    assert 401 == (await api.post("/v1/sources/news/fetch", token=None)).status
    for bad in ({"fetches": "0"}, {"fetches": "x"}, {"limit": "3"}):
        assert 422 == (await api.get("/v1/sources", params=bad)).status
