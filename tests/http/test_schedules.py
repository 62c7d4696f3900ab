"""Schedule routes on an App with two [[schedules]]: list, check now, decision history."""

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.settings import Settings
from tests.http.support import FAST, TOKEN, Api, records

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOM = "!models:test"


def schedule_settings(data_dir: Path) -> Settings:
    schedules = [
        {
            "model": "stories",
            "dataset": "stories",
            "policy": "new_data",
            "every": "1h",
            "min_new_records": 10,
            "room_id": ROOM,
            "hyperparameters": FAST,
        },
        {"model": "poems", "dataset": "poems", "policy": "cron", "cron": "0 3 * * *"},
    ]
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "http": {"enabled": True, "port": 0, "tokens": [TOKEN]},
            "matrix": {"enabled": False},
            "trainer": {"default_base": "micro", "stop_grace_s": 10},
            "schedules": schedules,
            "scheduler": {"enabled": True},
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def scheduled(tmp_path: Path) -> AsyncIterator[tuple[App, Api]]:
    app = App(schedule_settings(tmp_path / "data"))
    await app.start()
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        yield app, Api(session, TOKEN)
    await app.stop()


async def test_the_list_shows_each_schedule_and_when_it_checks(
    scheduled: tuple[App, Api],
) -> None:
    _, api = scheduled
    reply = await api.get("/v1/schedules")
    assert 200 == reply.status
    stories, poems = reply.json["schedules"]
    assert {
        "model": "stories",
        "dataset": "stories",
        "policy": "new_data",
        "cron": None,
        "every": "1h",
        "min_new_records": 10,
        "room_id": ROOM,
        "backend": "local",
        "decisions": [],
    }.items() <= stories.items()
    assert ("cron", "0 3 * * *", None) == (poems["policy"], poems["cron"], poems["every"])
    assert isinstance(stories["next_run"], float) and isinstance(poems["next_run"], float)


async def test_check_decides_now_and_the_decision_is_kept(scheduled: tuple[App, Api]) -> None:
    app, api = scheduled
    nothing = await api.post("/v1/schedules/stories/check")
    assert 200 == nothing.status
    assert (False, None, "new_data") == (
        nothing.json["retrain"],
        nothing.json["job_id"],
        nothing.json["policy"],
    )
    assert "dataset stories does not exist yet" in nothing.json["reason"]

    stored = await api.post("/v1/datasets", json={"name": "stories", "records": records(12)})
    assert 201 == stored.status, stored.text
    retrain = (await api.post("/v1/schedules/stories/check")).json
    assert retrain["retrain"] and retrain["job_id"]
    assert "there is no version of stories yet; stories@v1 has 12 examples" == retrain["reason"]
    job = (await api.get(f"/v1/jobs/{retrain['job_id']}")).json
    assert ("stories", "schedule:stories") == (job["name"], job["requested_by"])
    await api.post(f"/v1/jobs/{retrain['job_id']}/cancel")

    history = (await api.get("/v1/schedules/stories/decisions")).json["decisions"]
    assert [retrain["id"], nothing.json["id"]] == [d["id"] for d in history]
    one = (await api.get("/v1/schedules/stories/decisions?limit=1")).json["decisions"]
    assert [retrain] == one
    listed = (await api.get("/v1/schedules")).json["schedules"][0]["decisions"]
    assert [retrain["id"], nothing.json["id"]] == [d["id"] for d in listed]
    texts = [n.text for n in await app.services.notifications.pending()]
    assert 2 == len(texts) and texts[1].startswith("Retraining stories (policy new_data): ")


async def test_unknown_models_and_bad_queries_are_refused(scheduled: tuple[App, Api]) -> None:
    app, api = scheduled
    check = await api.post("/v1/schedules/ghost/check")
    assert 404 == check.status
    assert (
        "no retraining schedule for model 'ghost'; configured: stories, poems"
        == (check.error["message"])
    )
    assert 404 == (await api.get("/v1/schedules/ghost/decisions")).status
    for query in ("limit=0", "limit=101", "limit=many", "max=3"):
        reply = await api.get(f"/v1/schedules/stories/decisions?{query}")
        assert 422 == reply.status, query
    assert 401 == (await api.post("/v1/schedules/stories/check", token=None)).status
    assert [] == await app.services.store.decisions.recent("ghost")
    assert [] == await app.services.store.decisions.recent("stories")  # nothing evaluated


async def test_without_schedules_the_list_is_empty_and_checks_explain(api: Api) -> None:
    assert {"schedules": []} == (await api.get("/v1/schedules")).json
    reply = await api.post("/v1/schedules/stories/check")
    assert 404 == reply.status
    assert "Add a [[schedules]] table to the config" in reply.error["message"]
