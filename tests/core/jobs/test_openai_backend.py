"""Remote fine-tuning: a real App and the real `openai` client against a fake OpenAI server."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core.errors import Conflict, Invalid
from bot.core.generation import GenerateParams
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from bot.room.commands.base import options_dict
from bot.room.commands.train import HYPER_KEYS, train
from bot.settings import Settings
from storage.jobs import EventRow
from storage.store import Store
from tests.fakes.openai_server import FakeOpenAI, answer, failing_script
from tests.support.services import records, wait_for

BASE = "gpt-4o-mini-2024-07-18"
FAQ = [{"prompt": f"What is {i} + {i}?", "completion": f"{2 * i}."} for i in range(12)]


def openai_settings(data_dir: Path, fake: FakeOpenAI | None, **trainer: Any) -> Settings:
    openai = (
        {
            "api_key": fake.api_key,
            "base_url": fake.base_url,
            "poll_interval_s": 0.02,
            "max_retries": 2,
        }
        if fake
        else {}
    )
    return Settings(
        storage={"data_dir": str(data_dir)},
        http={"enabled": False},
        matrix={"enabled": False},
        trainer={"default_base": "micro", **trainer},
        openai=openai,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start_app(
    app_factory: Callable[..., Any], tmp_path: Path, fake: FakeOpenAI
) -> Callable[..., Any]:
    async def start(with_key: bool = True, **trainer: Any) -> App:
        settings = openai_settings(tmp_path / "data", fake if with_key else None, **trainer)
        app: App = await app_factory(settings)
        return app

    return start


@pytest.fixture
async def services(start_app: Callable[..., Any]) -> Services:
    app = await start_app()
    return app.services


def status(wanted: str) -> Callable[[EventRow], bool]:
    return lambda row: row.event == "state" and row.data["status"] == wanted


def ended(row: EventRow) -> bool:
    return row.event == "state" and row.data["status"] in ("succeeded", "failed", "cancelled")


def transcript(events: list[EventRow]) -> list[str]:
    """Job events as a person reads them: states, progress and log lines."""
    lines = []
    for e in events:
        if e.event == "state":
            lines.append(f"state {e.data['status']}")
        elif e.event == "progress":
            lines.append(f"progress {e.data['step']}/{e.data['total_steps']} loss {e.data['loss']}")
        elif e.event == "log":
            lines.append(f"log {e.data['message']}")
    return lines


async def test_a_remote_job_runs_to_success_and_its_model_generates(
    services: Services, fake: FakeOpenAI
) -> None:
    await services.datasets.upload_records("faq", FAQ)
    job = await services.jobs.submit(
        JobRequest("faq", backend="openai", hyperparameters={"epochs": "2", "seed": 7}),
        requested_by="@ann:x",
        room_id="!r:x",
    )
    assert ("queued", "openai") == (job.status, job.backend)
    events = await wait_for(services, job.id, ended)
    assert [
        "state queued",
        "state validating_files",
        "log OpenAI job ftjob-1 created (training file file-1)",
        "log Validating training file",
        "log Fine-tuning job started",
        "state running",
        "progress 1/3 loss 1.9",
        "progress 2/3 loss 1.4",
        "progress 3/3 loss 1.1",
        "log The job has successfully completed",
        "state succeeded",
    ] == transcript(events)

    # What went to the API: the converted rows, then a job with our knobs.
    [upload] = fake.uploads
    assert {"purpose": "fine-tune"} == upload.form
    assert 12 == len(upload.jsonl())
    assert {
        "messages": [
            {"role": "user", "content": "What is 0 + 0?"},
            {"role": "assistant", "content": "0."},
        ]
    } == upload.jsonl()[0]
    [create] = fake.seen("POST", "/v1/fine_tuning/jobs")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    expected = {
        "model": BASE,
        "training_file": "file-1",
        "suffix": "faq",
        "seed": 7,
        "metadata": {"trainbot_job": job.id},
    }
    assert {**expected, "method": method} == create.json

    done = await services.jobs.get(job.id)
    remote_model = f"ft:{BASE}:trainbot:faq:ftjob-1"
    assert ("ftjob-1", "succeeded") == (done.remote_id, done.status)
    assert done.result is not None
    expected = {"model": "faq@v1", "remote_model": remote_model, "steps": 3, "train_loss": 1.1}
    assert {**expected, "tokens_seen": 1234} == {
        k: done.result[k] for k in [*expected, "tokens_seen"]
    }
    model = await services.models.resolve("faq")
    assert ("openai", remote_model, True, job.id) == (
        model.backend,
        model.remote_id,
        model.active,
        model.job_id,
    )

    generated = await services.generation.generate(
        "What is 3 + 3?",
        model="faq",
        params=GenerateParams(max_tokens=16, seed=1),
        requested_by="@ann:x",
    )
    assert (answer("What is 3 + 3?"), 5, 7) == (
        generated.text,
        generated.prompt_tokens,
        generated.completion_tokens,
    )
    [chat] = fake.seen("POST", "/v1/chat/completions")
    assert remote_model == chat.json["model"]
    assert [{"role": "user", "content": "What is 3 + 3?"}] == chat.json["messages"]
    assert [generated.prediction.id] == [p.id for p in await services.generation.predictions()]


async def test_a_remote_failure_shows_the_apis_reason(services: Services, fake: FakeOpenAI) -> None:
    await services.datasets.upload_records("faq", FAQ)
    fake.next_script = failing_script("Training file has too few assistant tokens")
    job = await services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    events = await wait_for(services, job.id, ended)
    assert "failed" == events[-1].data["status"]
    assert "Training file has too few assistant tokens" == events[-1].data["error"]
    assert "Training file has too few assistant tokens" == (await services.jobs.get(job.id)).error
    assert [] == await services.models.versions()


async def test_cancel_pause_and_resume_go_to_the_api(services: Services, fake: FakeOpenAI) -> None:
    await services.datasets.upload_records("faq", FAQ)
    fake.hold_at = 2  # running, after the first metrics event
    first = await services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    await wait_for(services, first.id, lambda row: row.event == "progress")
    paused = await services.jobs.pause(first.id)
    assert ("paused", "paused") == (paused.status, fake.jobs["ftjob-1"].status)
    with pytest.raises(Conflict, match="it is paused"):
        await services.jobs.pause(first.id)
    fake.release()
    await services.jobs.resume(first.id)
    events = await wait_for(services, first.id, ended)
    assert "succeeded" == events[-1].data["status"]
    assert ["state paused", "state queued", "state validating_files", "state running"] == [
        line for line in transcript(events) if line.startswith("state")
    ][3:7]

    fake.hold_at = 2
    second = await services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    await wait_for(services, second.id, lambda row: row.event == "progress")
    cancelled = await services.jobs.cancel(second.id)
    assert ("cancelled", "cancelled") == (cancelled.status, fake.jobs["ftjob-2"].status)
    assert [
        "/v1/fine_tuning/jobs/ftjob-1/pause",
        "/v1/fine_tuning/jobs/ftjob-1/resume",
        "/v1/fine_tuning/jobs/ftjob-2/cancel",
    ] == [r.path for r in fake.requests if r.method == "POST" and r.path.count("/") == 5]
    assert ["faq@v1"] == [m.label for m in await services.models.versions()]


async def test_a_restart_polls_the_remote_job_again(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    app = await start_app()
    await app.services.datasets.upload_records("faq", FAQ)
    fake.hold_at = 2
    job = await app.services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    await wait_for(app.services, job.id, lambda row: row.event == "progress")
    await app.stop()
    fake.release()

    app = await start_app()
    assert "running" == (await app.services.jobs.get(job.id)).status
    events = await wait_for(app.services, job.id, ended)
    lines = transcript(events)
    assert "log service restarted; polling OpenAI job ftjob-1 again" in lines
    assert ["progress 1/3 loss 1.9", "progress 2/3 loss 1.4", "progress 3/3 loss 1.1"] == [
        line for line in lines if line.startswith("progress")
    ]  # each API event mirrored once, across the restart
    assert "state succeeded" == lines[-1]
    assert 1 == len(fake.seen("POST", "/v1/fine_tuning/jobs"))
    assert "ftjob-1" in (await app.services.models.resolve("faq")).remote_id


async def test_a_restart_before_the_remote_id_was_saved_finds_the_job_instead_of_a_second(
    start_app: Callable[..., Any], fake: FakeOpenAI, tmp_path: Path
) -> None:
    app = await start_app()
    await app.services.datasets.upload_records("faq", FAQ)
    fake.hold_at = 2
    job = await app.services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    await wait_for(app.services, job.id, lambda row: row.event == "progress")
    await app.stop()
    # As if the process died between creating the job at OpenAI and saving its id.
    store = await Store.open(tmp_path / "data")
    await store.jobs.update(job.id, status="validating_files", remote_id=None)
    await store.close()
    fake.release()

    app = await start_app()
    events = await wait_for(app.services, job.id, ended)
    lines = transcript(events)
    assert "log service restarted; looking for its OpenAI job or creating it again" in lines
    assert "log OpenAI job ftjob-1 found (created before the restart)" in lines
    assert "state succeeded" == lines[-1]
    assert 1 == len(fake.uploads)
    assert 1 == len(fake.seen("POST", "/v1/fine_tuning/jobs"))
    assert "ftjob-1" == (await app.services.jobs.get(job.id)).remote_id


async def test_a_rate_limited_request_is_retried(services: Services, fake: FakeOpenAI) -> None:
    await services.datasets.upload_records("faq", FAQ)
    fake.rate_limit_next("POST /v1/files")
    fake.rate_limit_next("GET /v1/fine_tuning/jobs/")
    # Built as `!train faq backend=openai suffix=helpdesk lr_multiplier=0.5` builds it.
    args = train.parse(["faq", "backend=openai", "suffix=helpdesk", "lr_multiplier=0.5"])
    request = JobRequest(
        args.word(0, "dataset"),
        hyperparameters=options_dict(args, HYPER_KEYS),
        backend=args.options["backend"],
    )
    job = await services.jobs.submit(request, requested_by="a")
    events = await wait_for(services, job.id, ended)
    assert "succeeded" == events[-1].data["status"]
    assert [429, 200] == [r.status for r in fake.seen("POST", "/v1/files")]
    assert 429 == fake.seen("GET", "/v1/fine_tuning/jobs/")[0].status
    [create] = fake.seen("POST", "/v1/fine_tuning/jobs")
    assert ("helpdesk", {"learning_rate_multiplier": 0.5}) == (
        create.json["suffix"],
        create.json["method"]["supervised"]["hyperparameters"],
    )


async def test_datasets_breaking_openai_rules_are_refused_before_any_upload(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    app = await start_app(min_examples=2)
    services = app.services
    long_answer = "word " * 70_000  # about 87,500 tokens: over gpt-3.5-turbo's 16,385
    chat = [
        {
            "messages": [
                {"role": "user", "content": f"hi {i}"},
                {"role": "assistant", "content": long_answer if i == 3 else "hello"},
            ]
        }
        for i in range(1, 13)
    ]
    await services.datasets.upload_records("chats", chat)
    with pytest.raises(Invalid) as refused:
        await services.jobs.submit(
            JobRequest("chats", backend="openai", base="gpt-3.5-turbo-0125"), requested_by="a"
        )
    assert refused.value.message.splitlines() == [
        "chats@v1 cannot be fine-tuned at OpenAI (gpt-3.5-turbo-0125): "
        "12 examples, 1 breaking OpenAI's rules",
        "Errors:",
        "  line 3: about 87510 tokens (estimated), more than the 16385 one example may have "
        "for this model",
    ]
    assert [{"line": 3, "message": refused.value.details["errors"][0]["message"]}] == (
        refused.value.details["errors"]
    )

    await services.datasets.upload_records("few", FAQ[:5])
    few = "file: OpenAI needs at least 10 examples, this dataset has 5"
    with pytest.raises(Invalid, match=few):
        await services.jobs.submit(JobRequest("few", backend="openai"), requested_by="a")
    await services.datasets.upload_records("poems", records(12))
    with pytest.raises(Invalid, match="plain text examples cannot be fine-tuned at OpenAI"):
        await services.jobs.submit(JobRequest("poems", backend="openai"), requested_by="a")
    await services.datasets.upload_records("faq", FAQ)
    with pytest.raises(Invalid, match="'max_steps' is not an option of OpenAI fine-tuning"):
        await services.jobs.submit(
            JobRequest("faq", backend="openai", hyperparameters={"max_steps": 3}),
            requested_by="a",
        )
    with pytest.raises(Invalid, match="'tiny' is a local preset"):
        await services.jobs.submit(
            JobRequest("chats", backend="openai", base="tiny"), requested_by="a"
        )
    assert [] == fake.requests
    assert [] == await services.jobs.find()


async def test_without_an_api_key_openai_jobs_are_refused_and_the_rest_works(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    app = await start_app(with_key=False)
    services = app.services
    upload = await services.datasets.upload_records("faq", FAQ)
    assert 12 == upload.dataset.examples
    with pytest.raises(Invalid, match=r"backend=openai needs the \[openai\] section"):
        await services.jobs.submit(JobRequest("faq", backend="openai"), requested_by="a")
    assert [] == await services.jobs.find()
    assert services.jobs.dispatching
    assert [] == fake.requests
