"""Two jobs, one slot: the second queues then runs; pause, resume, cancel and their 409s.

The first job comes from the train webhook, so the hook's whole path is exercised too.
"""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import App
from bot.http.server import HttpServer
from tests.http.support import FAST, Api, read_sse, records, sign

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def quick_keepalive(server: HttpServer) -> Iterator[None]:
    server.state.keepalive_s = 0.2
    yield
    server.state.keepalive_s = 15.0


async def train_hook(api: Api, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    headers = {"X-Trainbot-Signature": sign(body), "Content-Type": "application/json"}
    return await api.post("/v1/hooks/retrain", data=body, token=None, headers=headers)


async def test_a_train_hook_body_must_be_data_or_dataset(api: Api) -> None:
    assert 422 == (await train_hook(api, {"text": "hello"})).status
    assert 422 == (await train_hook(api, {"data": [{"text": "x"}], "dataset": "y"})).status
    assert 404 == (await train_hook(api, {"dataset": "no-such-data"})).status


async def test_a_second_job_queues_until_the_slot_is_free(
    api: Api, app: App, quick_keepalive: None
) -> None:
    hooked = await train_hook(api, {"data": records(30, seed=3)})
    assert 202 == hooked.status, hooked.text
    first = _check_hook_answer(hooked.json)
    await api.wait_status(first["id"], "running")
    await api.post("/v1/datasets", json={"name": "slot-data", "records": records(30)})
    second = await api.post(
        "/v1/jobs", json={"dataset": "slot-data", "name": "slot-b", "hyperparameters": FAST}
    )
    assert (201, "queued") == (second.status, second.json["status"])
    b = second.json["id"]
    assert (await api.get("/v1/status")).json["queue_length"] >= 1
    await _check_idempotency(api)  # while the slot is busy, so those jobs never start

    # Controls on the queued job, with the refusals people would hit.
    assert "paused" == (await api.post(f"/v1/jobs/{b}/pause")).json["status"]
    again = await api.post(f"/v1/jobs/{b}/pause")
    assert 409 == again.status
    assert "cannot pause this job: it is paused" == again.error["message"]
    assert "queued" == (await api.post(f"/v1/jobs/{b}/resume")).json["status"]
    not_paused = await api.post(f"/v1/jobs/{b}/resume")
    assert (409, "conflict") == (not_paused.status, not_paused.error["code"])
    busy = await api.delete(f"/v1/jobs/{b}")
    assert 409 == busy.status and "cancel it first" in busy.error["message"]
    in_use = await api.delete(f"/v1/datasets/{first['dataset_id']}")
    assert 409 == in_use.status and first["id"] in in_use.error["message"]
    assert 200 == (await api.get(f"/v1/datasets/{first['dataset_id']}")).status

    # The queued job's stream replays what happened and stays open with keep-alives;
    # a client leaving closes its subscription.
    subscribers = app.services.bus.subscriber_count
    stream = api.headers(Accept="text/event-stream")
    async with api.session.get(f"/v1/jobs/{b}/events", headers=stream) as response:
        seen = await asyncio.wait_for(read_sse(response, stop_at_comment=True), 10)
    assert ["queued", "paused", "queued"] == [e.data["status"] for e in seen if e.id]
    assert "keep-alive" == seen[-1].comment
    await _until(lambda: app.services.bus.subscriber_count == subscribers)

    # The running job is cancelled; then the queued one gets the slot and finishes.
    assert 200 == (await api.post(f"/v1/jobs/{first['id']}/cancel")).status
    await api.wait_status(first["id"], "cancelled")
    late = await api.post(f"/v1/jobs/{first['id']}/cancel")
    assert "cannot cancel this job: it already was cancelled" == late.error["message"]
    done = await api.wait_status(b, "succeeded", "failed", within_s=240)
    assert "succeeded" == done["status"], done["error"]
    assert "slot-b@v1" == done["result"]["model"]
    assert 200 == (await api.delete(f"/v1/jobs/{b}")).status
    assert 404 == (await api.get(f"/v1/jobs/{b}")).status


def _check_hook_answer(body: dict[str, Any]) -> dict[str, Any]:
    assert ("retrain", "train") == (body["hook"], body["kind"])
    assert body["dataset"]["label"].startswith("hooked@v")
    job: dict[str, Any] = body["job"]
    assert ("hook:retrain", "!room:test") == (job["requested_by"], job["room_id"])
    assert body["dataset"]["id"] == job["dataset_id"]
    assert FAST["max_steps"] == job["hyperparameters"]["max_steps"]
    return job


async def _check_idempotency(api: Api) -> None:
    body = {"dataset": "slot-data", "name": "idem", "hyperparameters": FAST}
    key = {"Idempotency-Key": "retry-me-1"}
    first = await api.post("/v1/jobs", json=body, headers=key)
    retried = await api.post("/v1/jobs", json=body, headers=key)
    assert (201, 200) == (first.status, retried.status)
    assert first.json["id"] == retried.json["id"]
    changed = await api.post("/v1/jobs", json={**body, "name": "other"}, headers=key)
    assert 409 == changed.status
    assert "Idempotency-Key was already used" in changed.error["message"]
    listed = (await api.get("/v1/jobs?limit=200")).json["jobs"]
    assert 1 == sum(job["name"] == "idem" for job in listed)
    assert 0 == sum(job["name"] == "other" for job in listed)
    cancelled = await api.post(f"/v1/jobs/{first.json['id']}/cancel")
    assert "cancelled" == cancelled.json["status"]


async def _until(check: Any, within_s: float = 5) -> None:
    for _ in range(int(within_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")
