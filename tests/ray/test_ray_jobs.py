"""Ray jobs through a real App and a real local Ray cluster: the user's view of each.

The tests run in file order: the first one sees the cluster down, then starts it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import App
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from bot.core.status import overview as status_overview
from bot.settings import Settings
from storage.jobs import EventRow
from tests.ray.conftest import RayHead
from tests.support.services import FAST, records, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def state(*statuses: str) -> Callable[[EventRow], bool]:
    return lambda row: row.event == "state" and row.data["status"] in statuses


@pytest.fixture
async def app(ray_settings: Callable[..., Settings]) -> AsyncIterator[App]:
    started = App(ray_settings())
    await started.start()
    yield started
    await started.stop()


async def submit(services: Services, **changes: Any) -> str:
    if not await services.datasets.versions("poems"):
        await services.datasets.upload_records("poems", records(48))
    hp = {**FAST, **changes.pop("hyperparameters", {})}
    request = JobRequest("poems", hyperparameters=hp, backend="ray", **changes)
    job = await services.jobs.submit(request, requested_by="@ann:x", room_id="!room:x")
    return job.id


async def test_cluster_down_queues_with_a_reason_then_the_job_runs_when_it_is_back(
    app: App, ray_head: RayHead
) -> None:
    assert not ray_head.running, "this test must run before the cluster is started"
    services = app.services
    job_id = await submit(services)
    rows = await wait_for(services, job_id, lambda r: r.event == "log")
    assert rows[-1].data["message"].startswith("waiting for the Ray cluster: the Ray cluster at")
    overview = (await status_overview(services.store, services.jobs.backends.values()))["clusters"]
    assert (False, [job_id]) == (overview["ray"]["reachable"], list(overview["ray"]["waiting"]))
    assert "queued" == (await services.jobs.get(job_id)).status
    await asyncio.sleep(2.5)  # two more failed tries: the room is still told only once
    notices = await services.notifications.pending()
    assert 1 == len(notices) and "waiting for the Ray cluster" in notices[0].text

    ray_head.start()
    rows = await wait_for(services, job_id, state("succeeded", "failed"))
    job = await services.jobs.get(job_id)
    assert "succeeded" == job.status, job.error
    reasons = [r.data.get("reason") for r in rows if r.event == "state"]
    assert ["starting on the Ray cluster", "running on Ray (1 worker)"] == reasons[1:3]
    assert "the Ray cluster answers again" in [r.data.get("message") for r in rows]
    progress = [r.data["step"] for r in rows if r.event == "progress"]
    assert list(range(1, FAST["max_steps"] + 1)) == progress
    model = await services.models.resolve("poems")
    assert (job.model_id, job_id) == (model.id, model.job_id)
    assert job.result is not None and job.result["perplexity"] < job.result["initial_perplexity"]
    overview = await services.jobs.backends["ray"].cluster_overview()  # type: ignore[attr-defined]
    assert (True, 1, 4.0) == (overview["reachable"], overview["nodes"], overview["cpus"])


async def test_two_data_parallel_workers_match_one_with_the_same_global_batch(
    app: App, ray_head: RayHead
) -> None:
    ray_head.start()
    services = app.services
    hp = {"max_steps": 20, "batch_size": 8, "save_every": 20, "eval_every": 20}
    one = await submit(services, hyperparameters=hp, name="one")
    two = await submit(services, hyperparameters=hp, name="two", resources={"workers": 2})
    curves = []
    for job_id in (one, two):
        rows = await wait_for(services, job_id, state("succeeded", "failed"))
        assert "succeeded" == rows[-1].data["status"], rows[-1].data
        curves.append([r.data["loss"] for r in rows if r.event == "progress"])
    assert 20 == len(curves[0]) == len(curves[1])
    # Same global batch, same start, the sampler shards differently: close, not equal.
    gaps = [abs(a - b) / a for a, b in zip(curves[0], curves[1], strict=True)]
    assert max(gaps) < 0.05, gaps
    assert curves[0][-1] < curves[0][0] - 0.3 and curves[1][-1] < curves[1][0] - 0.3
    metrics = [(await services.jobs.get(j)).result or {} for j in (one, two)]
    assert abs(metrics[0]["eval_loss"] - metrics[1]["eval_loss"]) < 0.05 * metrics[0]["eval_loss"]
    assert metrics[0]["tokens_seen"] == metrics[1]["tokens_seen"]  # the group's tokens


async def test_pause_resume_and_cancel_at_the_next_step(app: App, ray_head: RayHead) -> None:
    ray_head.start()
    services = app.services
    job_id = await submit(services, hyperparameters={"max_steps": 400})
    await wait_for(services, job_id, lambda r: r.event == "checkpoint")
    await services.jobs.pause(job_id)
    rows = await wait_for(services, job_id, state("paused", "failed"))
    assert "paused" == rows[-1].data["status"], rows[-1].data
    await services.jobs.resume(job_id)
    rows = await wait_for(
        services, job_id, lambda r: r.event == "started" and r.data["resumed_from_step"] > 0
    )
    await services.jobs.cancel(job_id)
    rows = await wait_for(services, job_id, state("cancelled", "failed", "succeeded"))
    assert "cancelled" == rows[-1].data["status"], rows[-1].data
    steps = [r.data["step"] for r in rows if r.event == "progress"]
    assert steps[-1] < 400
    assert [] == await services.models.versions("poems")


async def test_a_killed_training_worker_resumes_from_its_checkpoint(
    app: App, ray_head: RayHead
) -> None:
    import ray

    ray_head.start()
    services = app.services
    hp = {"max_steps": 60, "save_every": 10, "eval_every": 10}
    job_id = await submit(services, hyperparameters=hp)
    await wait_for(services, job_id, lambda r: r.event == "checkpoint" and r.data["step"] >= 20)
    job = await services.jobs.get(job_id)
    driver = ray.get_actor(f"trainbot-job-{job_id}-1", namespace="trainbot-tests")
    pids = await driver.worker_pids.remote()
    os.kill(pids[0], signal.SIGKILL)  # the rank-0 training process, mid-run
    rows = await wait_for(services, job_id, state("succeeded", "failed"))
    assert "succeeded" == rows[-1].data["status"], rows[-1].data
    started = [r.data["resumed_from_step"] for r in rows if r.event == "started"]
    assert 2 == len(started) and started[1] >= 20
    assert job.status == "running"
