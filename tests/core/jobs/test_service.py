"""Jobs through real worker processes: queue, run, register, control, stop and resume."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import Conflict, Forbidden, Invalid, NotFound
from bot.core.generation import GenerateParams
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from tests.support.services import FAST, is_final_state, records, wait_for

pytestmark = pytest.mark.slow


def final(status: str) -> Callable[[Any], bool]:
    return lambda row: row.event == "state" and row.data["status"] == status


async def test_a_job_trains_registers_and_generates(services: Services) -> None:
    await services.datasets.upload_records("poems", records())
    job = await services.jobs.submit(
        JobRequest(dataset="poems", hyperparameters=FAST), requested_by="@ann:x", room_id="!r:x"
    )
    events = await wait_for(services, job.id, is_final_state)
    names = [e.event for e in events if e.event != "log"]  # device and precision lines
    assert ["state", "state", "state", "started", "eval"] == names[:5]
    said = [str(e.data.get("message")) for e in events if e.event == "log"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert "succeeded" == events[-1].data["status"]
    done = await services.jobs.get(job.id)
    assert done.result is not None and done.model_id is not None
    assert f"training on cpu in {done.result['precision']}" in said  # bf16 where native
    assert done.result["perplexity"] < done.result["initial_perplexity"]
    model = await services.models.resolve("poems")
    assert ("poems@v1", True, job.id) == (model.label, model.active, model.job_id)
    generated = await services.generation.generate(
        "the cat", model=None, params=GenerateParams(max_tokens=8, seed=1), requested_by="@ann:x"
    )
    assert generated.text and generated.model.id == model.id
    # No answer and no model record tells where the data dir lives on the server.
    root = str(services.store.artifacts.root)
    assert [] == [e.event for e in events if root in json.dumps(e.data)]
    record = (Path(model.path) / "trainbot.json").read_text()
    assert root not in record and "jobs/" in record
    assert [generated.prediction.id] == [p.id for p in await services.generation.predictions()]

    # The registry protects what is in use and keeps what it refused to delete.
    with pytest.raises(Conflict, match="poems@v1 is the active version"):
        await services.models.delete("poems@v1")
    with pytest.raises(Conflict, match="cannot pause this job: it already succeeded"):
        await services.jobs.pause(job.id)
    assert model.id == (await services.models.resolve(model.id[:4])).id
    await services.jobs.delete(job.id)
    with pytest.raises(NotFound):
        await services.jobs.get(job.id)
    assert model.id == (await services.models.default()).id


async def test_one_slot_queues_the_second_job_and_cancel_works_everywhere(
    services: Services,
) -> None:
    await services.datasets.upload_records("poems", records())
    slow = {**FAST, "max_steps": 2000}
    first = await services.jobs.submit(JobRequest("poems", hyperparameters=slow), requested_by="a")
    second = await services.jobs.submit(JobRequest("poems", hyperparameters=FAST), requested_by="b")
    third = await services.jobs.submit(JobRequest("poems", hyperparameters=FAST), requested_by="c")
    await wait_for(services, first.id, lambda r: r.event == "progress")
    assert "queued" == (await services.jobs.get(second.id)).status
    # Only the requester (or an admin) controls a job from the room.
    with pytest.raises(Forbidden, match=f"only c or an admin may cancel job {third.id}"):
        await services.jobs.cancel(third.id, by="b")
    with pytest.raises(Forbidden):
        await services.jobs.pause(third.id, by="a")
    assert "queued" == (await services.jobs.get(third.id)).status
    await services.jobs.pause(second.id, by="x", admin=True)
    await services.jobs.resume(second.id, by="b")
    await services.jobs.cancel(third.id, by="c")  # queued: cancelled at once
    assert "cancelled" == (await services.jobs.get(third.id)).status
    await services.jobs.cancel(first.id)  # running: stops at the next step
    events = await wait_for(services, first.id, is_final_state)
    assert "cancelled" == events[-1].data["status"]
    # No half-written model: nothing registered, no weights where the model would go.
    output = services.store.artifacts.job_output_dir(first.id)
    assert not (output / "model.safetensors").exists()
    assert [] == [m for m in await services.models.versions() if m.job_id == first.id]
    await wait_for(services, second.id, final("succeeded"))  # its history has a pause


async def test_pause_and_resume_continue_the_step_count(services: Services) -> None:
    await services.datasets.upload_records("poems", records())
    job = await services.jobs.submit(
        JobRequest("poems", hyperparameters={**FAST, "max_steps": 60}), requested_by="a"
    )
    await wait_for(services, job.id, lambda r: r.event == "checkpoint")
    await services.jobs.pause(job.id)
    events = await wait_for(services, job.id, is_final_state)
    assert "paused" == events[-1].data["status"]
    paused_at = max(e.data["step"] for e in events if e.event == "progress")
    with pytest.raises(Conflict, match="it is paused"):
        await services.jobs.pause(job.id)
    await services.jobs.resume(job.id)
    rows = await wait_for(services, job.id, final("succeeded"))
    started = [e for e in rows if e.event == "started"]
    assert 2 == len(started) and started[1].data["resumed_from_step"] >= 10
    steps = [e.data["step"] for e in rows if e.event == "progress"]
    assert 60 == steps[-1] and paused_at <= 60
    assert steps[len(steps) - 1 - (60 - started[1].data["resumed_from_step"]) + 1 :] == list(
        range(started[1].data["resumed_from_step"] + 1, 61)
    )


async def test_graceful_stop_pauses_and_the_next_start_resumes(
    app_factory: Callable[..., Any],
) -> None:
    app = await app_factory()
    await app.services.datasets.upload_records("poems", records())
    job = await app.services.jobs.submit(
        JobRequest("poems", hyperparameters={**FAST, "max_steps": 80}), requested_by="a"
    )
    await wait_for(app.services, job.id, lambda r: r.event == "checkpoint")
    await app.stop()

    app = await app_factory()
    services = app.services
    rows = await wait_for(services, job.id, final("succeeded"))
    reasons = [e.data.get("reason") for e in rows if e.event == "state"]
    assert "service stopping" in reasons
    assert any(r and r.startswith("service restarted") for r in reasons) is False
    started = [e for e in rows if e.event == "started"]
    assert started[-1].data["resumed_from_step"] > 0
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))


async def test_requests_are_checked_before_anything_is_stored(services: Services) -> None:
    await services.datasets.upload_records("poems", records())
    with pytest.raises(Invalid, match="unknown hyperparameter 'epoch'"):
        await services.jobs.submit(
            JobRequest("poems", hyperparameters={"epoch": 1}), requested_by="a"
        )
    with pytest.raises(NotFound, match="no dataset 'verse'"):
        await services.jobs.submit(JobRequest("verse"), requested_by="a")
    with pytest.raises(Invalid, match="unknown backend"):
        await services.jobs.submit(JobRequest("poems", backend="gpu"), requested_by="a")
    assert [] == await services.jobs.find()


async def test_idempotency_key_returns_the_same_job(services: Services) -> None:
    await services.datasets.upload_records("poems", records())
    request = JobRequest("poems", hyperparameters=FAST)
    first = await services.jobs.submit(request, requested_by="api:1", idempotency_key="k1")
    again = await services.jobs.submit(request, requested_by="api:1", idempotency_key="k1")
    assert first.id == again.id and 1 == len(await services.jobs.find())
    with pytest.raises(Conflict, match="Idempotency-Key was already used"):
        await services.jobs.submit(
            JobRequest("poems", hyperparameters={**FAST, "seed": 7}),
            requested_by="api:1",
            idempotency_key="k1",
        )
    await services.jobs.cancel(first.id)


async def test_a_job_error_names_files_relative_to_the_data_dir(services: Services) -> None:
    upload = await services.datasets.upload_records("poems", records())
    Path(upload.dataset.path).unlink()  # gone behind the service's back
    job = await services.jobs.submit(JobRequest("poems", hyperparameters=FAST), requested_by="a")
    events = await wait_for(services, job.id, is_final_state)
    error = (await services.jobs.get(job.id)).error or ""
    assert error.startswith("dataset file unreadable") and "datasets/" in error
    root = str(services.store.artifacts.root)
    assert root not in error and root not in json.dumps([e.data for e in events])
