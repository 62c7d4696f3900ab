"""`trainbot run` with `[ray]`, driven over HTTP: the cluster lost mid-run, then a SIGKILL.

The service runs in a process of its own, as people run it: Ray ends a driver whose
raylet goes away, so stopping the head under an in-process service could take the test
process down with it. One job lives through both faults, so one Ray run start pays for
both:

- the head is stopped mid-run (by its process group): the service leaves the cluster,
  says once that it lost contact, keeps the job running with the reason in `/v1/status`,
  and when a head answers again on the same address (same storage) starts the run again
  from its newest checkpoint (a second attempt, counted against `ray.max_failures`);
- the service is SIGKILLed during that second attempt: the restarted service finds the
  run on the cluster's `RunHost` actor by name and goes on reading its events, never
  starting a second run.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_run_service import Service
from tests.ray.conftest import RayHead
from tests.support.services import records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
STEPS = 500  # ~15 s of training: the head stops just after the first checkpoint, and the
# second attempt still trains when the service is killed (at 200, a slow poll once mirrored
# the whole second attempt, success included, before the kill)
HP = {"max_steps": STEPS, "batch_size": 4, "block_size": 32, "eval_every": 20, "save_every": 20}
LOST = "lost contact with the Ray cluster"
Event = dict[str, Any]


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


async def follow(
    service: Service, job_id: str, seen: list[Event], until: Callable[[Event], bool]
) -> None:
    """Add the job's events after the last one seen to `seen`, up to the first `until`."""
    after = seen[-1]["id"] if seen else 0
    async for event in service.events(job_id, after=after):
        seen.append(event)
        if until(event):
            return


def leave_ray() -> None:
    """This process leaves the head too, if an earlier test joined it (Ray would end it)."""
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


async def test_the_cluster_lost_mid_run_and_a_sigkill_of_the_service_leave_one_history(
    service: Service, ray_head: RayHead
) -> None:
    await service.start()
    status, body = await service.call(
        "POST", "/v1/datasets", json={"name": "poems", "records": records(60)}
    )
    assert 201 == status, body
    request = {"dataset": "poems", "hyperparameters": HP, "backend": "ray"}
    status, job = await service.call("POST", "/v1/jobs", json=request)
    assert (201, "ray") == (status, job["backend"]), job
    job_id = job["id"]
    seen: list[Event] = []
    await follow(service, job_id, seen, lambda e: e["event"] == "checkpoint")
    leave_ray()
    await asyncio.to_thread(ray_head.stop)  # mid-run: its workers go with it
    await follow(service, job_id, seen, lambda e: e["data"].get("message", "").startswith(LOST))
    await asyncio.sleep(3)  # three more failed tries (retry_s 1)
    assert service.process is not None and service.process.poll() is None  # it lives on
    status, current = await service.call("GET", f"/v1/jobs/{job_id}")
    assert (200, "running") == (status, current["status"]), current
    status, overview = await service.call("GET", "/v1/status")
    ray = overview["clusters"]["ray"]
    assert (200, False) == (status, ray["reachable"]), ray
    assert ray["waiting"][job_id].startswith("waiting for the Ray cluster: "), ray

    await asyncio.to_thread(ray_head.start)  # the same address and storage
    starts = 0

    def second_attempt_trains(event: Event) -> bool:
        nonlocal starts
        starts += event["event"] == "started"
        return starts == 1 and event["event"] == "progress"

    await follow(service, job_id, seen, second_attempt_trains)
    assert service.process is not None
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()
    await service.start()
    await follow(service, job_id, seen, lambda e: e["data"].get("status") == "succeeded")

    assert [e["id"] for e in seen] == list(range(1, len(seen) + 1))  # one history, no gap
    messages = [e["data"]["message"] for e in seen if e["event"] == "log"]
    assert 1 == sum(m.startswith(LOST) for m in messages), messages  # told once
    for said in (
        "the Ray cluster answers again",
        "the Ray cluster lost the run (its head restarted); "
        "starting again from its newest checkpoint",
        f"Ray run started again from its newest checkpoint ({job_id}-2)",
        "service restarted; looking for its Ray run",
        f"Ray run re-attached ({job_id}-2)",
    ):
        assert said in messages, (said, messages)
    # Each attempt's events once, in order: the restarted service repeats none.
    numbers = [e["data"]["ray_event"] for e in seen if "ray_event" in e["data"]]
    first = [n for a, n in numbers if a == 1]
    assert numbers == [[1, n] for n in first] + [
        [2, n] for n in range(1, len(numbers) - len(first) + 1)
    ]
    assert first == list(range(1, len(first) + 1))
    started = [e for e in seen if e["event"] == "started"]
    assert [1, 2] == [e["data"]["ray_event"][0] for e in started]  # one run per attempt
    lost_at = next(e["id"] for e in seen if e["data"].get("message", "").startswith(LOST))
    checkpoints = [
        e["data"]["step"] for e in seen if e["event"] == "checkpoint" and e["id"] < lost_at
    ]
    resumed = started[1]["data"]["resumed_from_step"]
    # Its newest checkpoint: the one the service saw, or one its workers wrote after.
    assert checkpoints and checkpoints[-1] <= resumed < STEPS, (checkpoints, resumed)
    steps = [
        e["data"]["step"] for e in seen if e["event"] == "progress" and e["id"] > started[1]["id"]
    ]
    assert list(range(resumed + 1, STEPS + 1)) == steps
    status, models = await service.call("GET", "/v1/models")
    assert 200 == status and ["poems@v1"] == [m["label"] for m in models["models"]]
