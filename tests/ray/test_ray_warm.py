"""Warm workers (trainer.distributed.warm): a one-worker CPU job trains in a process the
cluster started before it, and survives that process's loss the way Ray Train runs do.

The job trains on a second node of its own (a custom resource only that node offers), so
losing the node leaves the job nowhere to go: a pause then ends it at once, and after the
resume it waits, running, until a node is back. A second App with `max_failures = 0`
shows the end of the road: one loss and the job fails with the reason.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.core.services import Services
from bot.settings import Settings
from tests.ray.conftest import RayHead, RayNode
from tests.ray.test_ray_jobs import (
    NODE_RESOURCE,
    RETRY_S,
    checkpoint_after_start,
    nth_start,
    state,
    submit,
)
from tests.support.services import wait_for
from trainer.distributed.driver import HOST_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
LONG = {"max_steps": 5000, "save_every": 10, "eval_every": 10}  # stopped long before it ends


async def test_a_warm_worker_trains_at_once_survives_its_loss_and_pauses_while_it_is_away(
    ray_settings: Callable[..., Settings], ray_head: RayHead
) -> None:
    ray_head.start()
    node = RayNode(ray_head, NODE_RESOURCE)
    await asyncio.to_thread(node.start)
    settings = ray_settings(retry_s=RETRY_S, worker_resources={NODE_RESOURCE: 1})
    app = App(settings)
    await app.start()
    try:
        await warm_worker_lost_then_node_lost(app.services, node)
    finally:
        await app.stop()
    app = App(
        settings.model_copy(update={"ray": settings.ray.model_copy(update={"max_failures": 0})})
    )
    await app.start()
    try:
        await one_loss_too_many(app.services)
    finally:
        await app.stop()
        await asyncio.to_thread(node.stop)


async def warm_worker_lost_then_node_lost(services: Services, node: RayNode) -> None:
    import ray

    # Joining (here: to read the overview) starts one warm worker of the default shape,
    # which Ray places on the only node that offers its resource.
    overview = await services.jobs.backends["ray"].cluster_overview()  # type: ignore[attr-defined]
    assert 1 == overview["warm_workers"]
    host = ray.get_actor(HOST_NAME, namespace="trainbot-tests")
    assert 1 == await host.warm_workers.remote()
    for _ in range(1200):  # Ray titles the process so once its __init__ (the imports) ended
        if any(title(pid) == "ray::WarmWorker" for pid in node.members()):
            break
        await asyncio.sleep(0.1)
    before = set(node.members())

    job_id = await submit(services, hyperparameters=LONG)
    rows = await wait_for(services, job_id, lambda r: r.event == "checkpoint")
    line = next(r.data["message"] for r in rows if r.event == "log" and "rank 0" in str(r.data))
    assert line.startswith("rank 0 of 1 (warm worker): pid "), line
    pid = (await host.worker_pids.remote(f"{job_id}-1"))[0]
    assert pid in before  # its process was started before the job: nothing to import
    assert 0 == await host.warm_workers.remote()  # taken by the job

    os.kill(pid, signal.SIGKILL)  # the training process, mid-run
    rows = await wait_for(services, job_id, checkpoint_after_start(2))
    lost = [r.data["message"] for r in rows if r.event == "log" and "was lost" in str(r.data)]
    assert 1 == len(lost) and "(restart 1 of 2)" in lost[0], lost
    starts = [r.data for r in rows if r.event == "started"]
    assert 0 == starts[0]["resumed_from_step"] and 10 <= starts[1]["resumed_from_step"]
    assert (await host.worker_pids.remote(f"{job_id}-1"))[0] != pid  # Ray started it anew

    # The node goes: no other node offers the resource, so the job has nowhere to train;
    # a pause still ends it (at its newest checkpoint), without waiting for a node.
    await asyncio.to_thread(node.stop)
    await wait_for(services, job_id, lambda r: "(restart 2 of 2)" in str(r.data))
    await services.jobs.pause(job_id)
    rows = await wait_for(services, job_id, state("paused", "failed"))
    assert "paused" == rows[-1].data["status"], rows[-1].data
    stopped = next(r.data for r in reversed(rows) if r.event == "stopped")
    assert stopped["step"] >= 10 and stopped["checkpoint"].endswith(f"-{stopped['step']}")
    await services.jobs.resume(job_id)
    await asyncio.sleep(3)  # it waits, running, for a node that offers the resource
    job = await services.jobs.get(job_id)
    assert "running" == job.status
    await asyncio.to_thread(node.start)
    rows = await wait_for(services, job_id, nth_start(3))
    assert stopped["step"] <= rows[-1].data["resumed_from_step"]
    await services.jobs.cancel(job_id)
    rows = await wait_for(services, job_id, state("cancelled", "failed", "succeeded"))
    assert "cancelled" == rows[-1].data["status"], rows[-1].data
    assert [] == await services.models.versions("poems")


def title(pid: int) -> str:
    """A process's title (Ray sets it to `ray::<actor class>[.<method>]`)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode().strip()
    except OSError:
        return ""


async def one_loss_too_many(services: Services) -> None:
    import ray

    host = ray.get_actor(HOST_NAME, namespace="trainbot-tests")
    job_id = await submit(services, hyperparameters=LONG, name="fragile")
    await wait_for(services, job_id, lambda r: r.event == "checkpoint")
    os.kill((await host.worker_pids.remote(f"{job_id}-1"))[0], signal.SIGKILL)
    rows = await wait_for(services, job_id, state("failed", "succeeded", "cancelled"))
    job = await services.jobs.get(job_id)
    assert "failed" == job.status
    assert "the training worker was lost 1 time (ray.max_failures = 0)" in str(job.error), job.error
    assert not any("was lost" in str(r.data) for r in rows if r.event == "log")  # no restart
