"""`trainbot run` with `[ray]`, driven over HTTP: a SIGKILL of the service mid-run.

The job's actor is detached and named after the job, so the restarted service finds it
and goes on reading its events: the run on the cluster is the same one, not a second.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_run_service import Service
from tests.ray.conftest import RayHead
from tests.support.services import records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
# Short: the run may end while the service is down; the restart still reads its events.
HP = {"max_steps": 60, "batch_size": 4, "block_size": 32, "eval_every": 20, "save_every": 20}


@pytest.fixture
async def service(tmp_path: Path, ray_head: RayHead) -> AsyncIterator[Service]:
    ray_head.start()
    svc = Service(tmp_path)
    with svc.config.open("a") as config:
        config.write(
            f'[ray]\naddress = "{ray_head.address}"\nstorage_path = "{tmp_path / "shared"}"\n'
            'namespace = "trainbot-service"\nretry_s = 1.0\npoll_interval_s = 0.2\n'
        )
    yield svc
    if svc.process and svc.process.poll() is None:
        svc.process.kill()
        svc.process.wait()


async def test_sigkill_of_the_service_reattaches_to_the_running_ray_job(
    service: Service,
) -> None:
    await service.start()
    status, body = await service.call(
        "POST", "/v1/datasets", json={"name": "poems", "records": records(60)}
    )
    assert 201 == status, body
    request = {"dataset": "poems", "hyperparameters": HP, "backend": "ray"}
    status, job = await service.call("POST", "/v1/jobs", json=request)
    assert (201, "ray") == (status, job["backend"]), job
    seen: list[dict[str, Any]] = []
    async for event in service.events(job["id"]):
        seen.append(event)
        if event["event"] == "progress" and event["data"]["step"] >= 5:
            break
    assert service.process is not None
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()

    await service.start()
    rest = [e async for e in service.events(job["id"], after=seen[-1]["id"])]
    history = seen + rest
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert "succeeded" == history[-1]["data"]["status"], history[-1]
    messages = [e["data"].get("message", "") for e in rest if e["event"] == "log"]
    assert any(m.startswith("Ray run re-attached") for m in messages), messages
    started = [e for e in history if e["event"] == "started"]
    assert 1 == len(started)  # one run on the cluster, never a second
    numbers = [e["data"]["ray_event"] for e in history if "ray_event" in e["data"]]
    assert [[1, n] for n in range(1, len(numbers) + 1)] == numbers  # each event once, in order
    steps = [e["data"]["step"] for e in history if e["event"] == "progress"]
    assert list(range(1, 61)) == steps
    status, models = await service.call("GET", "/v1/models")
    assert 200 == status and ["poems@v1"] == [m["label"] for m in models["models"]]
