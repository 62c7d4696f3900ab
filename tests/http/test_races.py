"""Check-then-act races on a real server: many simultaneous requests, then the invariant.

Each test fires its requests at once with `asyncio.gather` and asserts what must hold
whatever the order they ran in (never a timing): the queue limit, one version number per
upload, one active version per name, nothing deleted that a job needs, no folder
without its row. A long job holds the one training slot for the whole module, so the
jobs these tests queue stay queued until they are cancelled.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.core.services import Services
from tests.http.support import FAST, TOKEN, Api, http_settings, records

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUEUE_LIMIT = 3


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def busy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    """An App with `max_queue_length = 3` whose one slot is taken by a long job."""
    settings = http_settings(tmp_path_factory.mktemp("races") / "data")
    trainer = settings.trainer.model_copy(update={"max_queue_length": QUEUE_LIMIT})
    app = App(settings.model_copy(update={"trainer": trainer}))
    await app.start()
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        api = Api(session, TOKEN)
        await api.post("/v1/datasets", json={"name": "slot", "records": records(30)})
        long = {**FAST, "max_steps": 1_000_000, "eval_every": 1_000, "save_every": 1_000}
        job = await api.post("/v1/jobs", json={"dataset": "slot", "hyperparameters": long})
        assert 201 == job.status, job.text
        await api.wait_status(job.json["id"], "running")
        yield app
        await api.post(f"/v1/jobs/{job.json['id']}/cancel")
    await app.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(busy: App) -> AsyncIterator[Api]:
    assert busy.http is not None
    async with aiohttp.ClientSession(base_url=busy.http.url) as session:
        yield Api(session, TOKEN)


def services(app: App) -> Services:
    assert app.services is not None
    return app.services


async def cancel_queued(api: Api) -> None:
    for job in (await api.get("/v1/jobs?status=queued&limit=100")).json["jobs"]:
        assert 200 == (await api.post(f"/v1/jobs/{job['id']}/cancel")).status


async def test_the_queue_limit_holds_against_simultaneous_submits(api: Api) -> None:
    await api.post("/v1/datasets", json={"name": "flood", "records": records(30)})
    body: dict[str, Any] = {"dataset": "flood", "hyperparameters": FAST}
    replies = await asyncio.gather(*(api.post("/v1/jobs", json=body) for _ in range(12)))
    assert {201: QUEUE_LIMIT, 429: 12 - QUEUE_LIMIT} == Counter(r.status for r in replies)
    assert QUEUE_LIMIT == (await api.get("/v1/status")).json["queue_length"]
    await cancel_queued(api)


async def test_simultaneous_uploads_of_one_name_get_distinct_versions(api: Api, busy: App) -> None:
    body = {"name": "same-name", "records": records(20)}
    replies = await asyncio.gather(*(api.post("/v1/datasets", json=body) for _ in range(10)))
    assert [201] * 10 == [r.status for r in replies], [r.text for r in replies]
    assert list(range(1, 11)) == sorted(r.json["dataset"]["version"] for r in replies)
    rows = await services(busy).datasets.versions()
    folders = Path(services(busy).store.artifacts.root / "datasets").iterdir()
    assert sorted(r.id for r in rows) == sorted(f.name for f in folders)


async def test_simultaneous_model_registrations_get_distinct_versions(busy: App) -> None:
    models = services(busy).models
    registered = await asyncio.gather(
        *(
            models.register_remote(
                name="reg", job_id="", dataset_id="", base="b", remote_id=f"r{n}", metrics={}
            )
            for n in range(10)
        )
    )
    assert list(range(1, 11)) == sorted(m.version for m in registered)
    assert ["reg@v1"] == [m.label for m in await services(busy).store.models.active("reg")]


async def test_simultaneous_local_registrations_leave_no_folder_without_a_row(
    busy: App, tmp_path: Path
) -> None:
    models = services(busy).models
    outputs = []
    for n in range(8):
        folder = tmp_path / f"out{n}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(b"x" * n)
        outputs.append(folder)
    registered = await asyncio.gather(
        *(
            models.register_local(
                name="local-reg", job_id="", dataset_id="", base="b", output_dir=out, metrics={}
            )
            for out in outputs
        )
    )
    assert list(range(1, 9)) == sorted(m.version for m in registered)
    rows = {m.id for m in await models.versions()}
    folders = {f.name for f in (services(busy).store.artifacts.root / "models").iterdir()}
    assert folders <= rows


async def test_delete_and_activate_of_one_version_keep_an_active_version(
    api: Api, busy: App
) -> None:
    models = services(busy).models
    outcomes: Counter[tuple[int, int]] = Counter()
    for round in range(10):
        name = f"duel{round}"
        for n in range(3):
            await models.register_remote(
                name=name, job_id="", dataset_id="", base="b", remote_id=f"x{n}", metrics={}
            )
        await models.activate(f"{name}@v3")
        target = (await models.resolve(f"{name}@v2")).id
        deleted, activated = await asyncio.gather(
            api.delete(f"/v1/models/{target}"), api.post(f"/v1/models/{target}/activate")
        )
        outcomes[(deleted.status, activated.status)] += 1
        active = await services(busy).store.models.active(name)
        assert 1 == len(active), (deleted.text, activated.text)
        assert await services(busy).store.models.get(active[0].id) is not None
    # Either order is fine; a half-done mix (both 200, or a 500) is not.
    assert set(outcomes) <= {(200, 404), (409, 200)}, outcomes


async def test_deleting_a_dataset_while_a_job_is_submitted_on_it(api: Api, busy: App) -> None:
    outcomes: Counter[tuple[int, int]] = Counter()
    for round in range(8):
        made = await api.post("/v1/datasets", json={"name": f"gone{round}", "records": records(20)})
        dataset = made.json["dataset"]["id"]
        body = {"dataset": dataset, "hyperparameters": FAST}
        deleted, submitted = await asyncio.gather(
            api.delete(f"/v1/datasets/{dataset}"), api.post("/v1/jobs", json=body)
        )
        outcomes[(deleted.status, submitted.status)] += 1
        # The job exists only if its dataset still does.
        still_there = await services(busy).store.datasets.get(dataset)
        assert (submitted.status == 201) == (still_there is not None)
        await cancel_queued(api)
    assert set(outcomes) <= {(200, 404), (409, 201)}, outcomes


async def test_a_model_a_queued_job_uses_as_base_cannot_be_deleted(
    api: Api, busy: App, tmp_path: Path
) -> None:
    models = services(busy).models
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    for _ in range(2):  # v2 is not active, so only the job protects it
        await models.register_local(
            name="based", job_id="", dataset_id="", base="b", output_dir=folder, metrics={}
        )
        folder.mkdir()
    base = await models.resolve("based@v2")
    await api.post("/v1/datasets", json={"name": "for-base", "records": records(20)})
    # Named by its folder, the base is recorded as the registered model it is.
    body = {"dataset": "for-base", "base": base.path, "hyperparameters": FAST}
    job = await api.post("/v1/jobs", json=body)
    assert (201, base.id) == (job.status, job.json["base"]), job.text
    refused = await api.delete(f"/v1/models/{base.id}")
    assert 409 == refused.status
    assert f"based@v2 is the base of job {job.json['id']}" == refused.error["message"]
    await cancel_queued(api)
    assert 200 == (await api.delete(f"/v1/models/{base.id}")).status
