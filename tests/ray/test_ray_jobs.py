"""Ray jobs through a real App and a real local Ray cluster: the user's view of each.

Each Ray Train run costs seconds of process starts (its controller and workers import
torch), so the tests share runs: the first one sees the cluster down, then starts it and
trains one and two workers at once, both validating on a dataset of their own; the
second trains through Ray Train on a second node of its own (no warm workers), kills its
worker, then loses the whole node (a node comes back), then pauses, resumes and cancels
the same job. The tests run in file order; warm workers: test_ray_warm.py.

Not here: the cluster lost mid-run (test_ray_service.py). Ray ends a driver whose raylet
goes away, so stopping the head under a service in this process could end the pytest
process: that scenario runs the service as a process of its own.
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
from tests.ray.conftest import RayHead, RayNode
from tests.support.services import FAST, records, wait_for
from trainer.distributed.driver import HOST_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
RETRY_S = 0.2
NODE_RESOURCE = "trainbot_test_node"


def state(*statuses: str) -> Callable[[EventRow], bool]:
    return lambda row: row.event == "state" and row.data["status"] in statuses


def checkpoint_after_start(n: int) -> Callable[[EventRow], bool]:
    """Until the first checkpoint after the job's n-th "started" event."""
    until_start = nth_start(n)
    started = False

    def until(row: EventRow) -> bool:
        nonlocal started
        started = started or until_start(row)
        return started and row.event == "checkpoint"

    return until


def nth_start(n: int) -> Callable[[EventRow], bool]:
    """Until the job's n-th "started" event (each run and each restart of one sends one)."""
    count = 0

    def until(row: EventRow) -> bool:
        nonlocal count
        count += row.event == "started"
        return count == n

    return until


@pytest.fixture
async def app(ray_settings: Callable[..., Settings]) -> AsyncIterator[App]:
    started = App(ray_settings(retry_s=RETRY_S))
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


async def test_cluster_down_queues_with_a_reason_then_two_workers_match_one_when_it_is_back(
    app: App, ray_head: RayHead
) -> None:
    assert not ray_head.running, "this test must run before the cluster is started"
    services = app.services
    hp = {"max_steps": 20, "batch_size": 8, "save_every": 10, "eval_every": 10}
    # Both validate on a dataset of their own (the OpenAI face's validation_file).
    await services.datasets.upload_records("held", records(10, seed=1))
    held = {"validation_dataset": "held"}
    one = await submit(services, hyperparameters=hp, name="one", **held)
    two = await submit(services, hyperparameters=hp, name="two", resources={"workers": 2}, **held)
    for job_id in (one, two):
        rows = await wait_for(services, job_id, lambda r: r.event == "log")
        message = rows[-1].data["message"]
        assert message.startswith("waiting for the Ray cluster: the Ray cluster at"), message
        assert "queued" == (await services.jobs.get(job_id)).status
    overview = (await status_overview(services.store, services.jobs.backends.values()))["clusters"]
    assert (False, {one, two}) == (overview["ray"]["reachable"], set(overview["ray"]["waiting"]))
    await asyncio.sleep(3 * RETRY_S)  # more failed tries: each job's room is told only once
    notices = await services.notifications.pending()
    assert 2 == len(notices) and all("waiting for the Ray cluster" in n.text for n in notices)

    ray_head.start()  # both train at once: 1 + 2 workers on the head's 4 CPUs
    curves = []
    for job_id in (one, two):
        rows = await wait_for(services, job_id, state("succeeded", "failed"))
        job = await services.jobs.get(job_id)
        assert "succeeded" == job.status, job.error
        reasons = [r.data.get("reason") for r in rows if r.event == "state"]
        workers = "1 worker" if job_id == one else "2 workers"
        assert ["starting on the Ray cluster", f"running on Ray ({workers})"] == reasons[1:3]
        assert "the Ray cluster answers again" in [r.data.get("message") for r in rows]
        progress = [r.data for r in rows if r.event == "progress"]
        assert list(range(1, 21)) == [p["step"] for p in progress]
        # Every training row trains; the evaluations (step 0, 10, 20) are on the held set.
        started = next(r.data for r in rows if r.event == "started")
        assert (48, 10) == (started["train_examples"], started["val_examples"])
        assert [0, 10, 20] == [r.data["step"] for r in rows if r.event == "eval"]
        assert job.validation_dataset_id == (await services.datasets.resolve("held")).id
        curves.append([p["loss"] for p in progress])
        model = await services.models.resolve(job.name)
        assert (job.model_id, job_id) == (model.id, model.job_id)
    # Same global batch, same start, the sampler shards differently: close, not equal.
    gaps = [abs(a - b) / a for a, b in zip(curves[0], curves[1], strict=True)]
    assert max(gaps) < 0.05, gaps
    assert curves[0][-1] < curves[0][0] - 0.3 and curves[1][-1] < curves[1][0] - 0.3
    metrics = [(await services.jobs.get(j)).result or {} for j in (one, two)]
    assert abs(metrics[0]["eval_loss"] - metrics[1]["eval_loss"]) < 0.05 * metrics[0]["eval_loss"]
    assert metrics[0]["tokens_seen"] == metrics[1]["tokens_seen"]  # the group's tokens
    assert metrics[0]["perplexity"] < metrics[0]["initial_perplexity"]
    overview = await services.jobs.backends["ray"].cluster_overview()  # type: ignore[attr-defined]
    assert (True, 1, 4.0) == (overview["reachable"], overview["nodes"], overview["cpus"])


async def test_a_killed_worker_and_a_lost_node_resume_then_pause_resume_and_cancel(
    ray_settings: Callable[..., Settings], ray_head: RayHead
) -> None:

    ray_head.start()
    node = RayNode(ray_head, NODE_RESOURCE)  # the only node the job's worker fits on
    await asyncio.to_thread(node.start)
    # No warm workers: this job goes through Ray Train's `TorchTrainer` and its
    # `FailureConfig` (a one-worker job would otherwise train in a warm worker, whose
    # faults test_ray_warm.py covers).
    settings = ray_settings(retry_s=RETRY_S, worker_resources={NODE_RESOURCE: 1}, warm_workers=0)
    app = App(settings)
    await app.start()
    try:
        await killed_worker_and_lost_node(app.services, node)
        assert [] == await app.services.models.versions("poems")
    finally:
        await app.stop()
        await asyncio.to_thread(node.stop)


async def killed_worker_and_lost_node(services: Services, node: RayNode) -> None:
    import ray

    hp = {"max_steps": 5000, "save_every": 10, "eval_every": 10}  # stopped long before it ends
    job_id = await submit(services, hyperparameters=hp)
    rows = await wait_for(
        services, job_id, lambda r: r.event == "checkpoint" and r.data["step"] >= 10
    )
    assert any("(Ray Train worker)" in str(r.data) for r in rows if r.event == "log")
    host = ray.get_actor(HOST_NAME, namespace="trainbot-tests")
    pids = await host.worker_pids.remote(f"{job_id}-1")
    assert pids[0] in node.members()  # it trains on the second node
    os.kill(pids[0], signal.SIGKILL)  # the rank-0 training process, mid-run
    await wait_for(services, job_id, nth_start(2))  # Ray Train restarted the worker group
    await wait_for(services, job_id, checkpoint_after_start(2))
    # The whole node goes (its raylet and every worker on it), and one comes back: Ray
    # Train starts the worker group again on it, from the newest checkpoint.
    await asyncio.to_thread(node.stop)
    await asyncio.to_thread(node.start)
    await wait_for(services, job_id, nth_start(3))
    assert "running" == (await services.jobs.get(job_id)).status

    await services.jobs.pause(job_id)
    rows = await wait_for(services, job_id, state("paused", "failed"))
    assert "paused" == rows[-1].data["status"], rows[-1].data
    await services.jobs.resume(job_id)
    await wait_for(services, job_id, nth_start(4))
    await services.jobs.cancel(job_id)
    rows = await wait_for(services, job_id, state("cancelled", "failed", "succeeded"))
    assert "cancelled" == rows[-1].data["status"], rows[-1].data
    starts = [r for r in rows if r.event == "started"]
    started = [r.data["resumed_from_step"] for r in starts]
    assert 4 == len(started) and 0 == started[0] and 10 <= started[1], started
    for n in (2, 3):  # each start after a fault or a pause resumes from the newest checkpoint
        before = [r.data["step"] for r in rows if r.event == "checkpoint" and r.seq < starts[n].seq]
        assert before[-1] <= started[n], (n, started, before)
    paused_at = max(r.data["step"] for r in rows if r.event == "progress" and r.seq < starts[3].seq)
    assert paused_at - 10 < started[3] <= paused_at, (started, paused_at)
    steps = [r.data["step"] for r in rows if r.event == "progress"]
    assert steps[-1] < 5000
