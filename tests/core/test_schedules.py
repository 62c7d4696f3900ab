"""Adaptive retraining: a real App, real training runs, the real `openai` client and a fake
OpenAI server; each policy's decisions as they are recorded, posted and acted on."""

import asyncio
import json
import random
import string
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from bot.room.face import notice_content
from bot.settings import Settings
from storage.schedules import DecisionRow
from tests.fakes.openai_server import FakeOpenAI
from tests.support.services import FAST, is_final_state, records, wait_for

ROOM = "!models:test"


def schedule(policy: str = "new_data", **fields: Any) -> dict[str, Any]:
    """A [[schedules]] table for model `stories` on dataset `stories`."""
    return {
        "model": "stories",
        "dataset": "stories",
        "policy": policy,
        "hyperparameters": FAST,
        **fields,
    }


def settings_with(
    data_dir: Path,
    schedules: list[dict[str, Any]],
    fake: FakeOpenAI | None = None,
    scheduler: bool = False,
) -> Settings:
    openai = {"api_key": fake.api_key, "base_url": fake.base_url, "max_retries": 0} if fake else {}
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "http": {"enabled": False},
            "matrix": {"enabled": False},
            "trainer": {"default_base": "micro", "stop_grace_s": 10},
            "openai": openai,
            "schedules": schedules,
            "scheduler": {"enabled": scheduler},
        }
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start(app_factory: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    async def start_with(*schedules: dict[str, Any], **options: Any) -> Services:
        app: App = await app_factory(settings_with(tmp_path / "data", list(schedules), **options))
        return app.services

    return start_with


async def upload(services: Services, rows: list[dict[str, str]]) -> None:
    await services.datasets.upload_records("stories", rows, created_by="test")


async def train_first_version(services: Services) -> None:
    """stories@v1 from 40 records, trained (from a room) into model stories@v1."""
    await upload(services, records(40))
    job = await services.jobs.submit(
        JobRequest(dataset="stories", name="stories", hyperparameters=FAST),
        requested_by="@ann:test",
        room_id=ROOM,
    )
    events = await wait_for(services, job.id, is_final_state)
    assert "succeeded" == events[-1].data["status"], events[-1].data


async def notices(services: Services) -> list[str]:
    return [
        n.text
        for n in await services.notifications.pending()
        if n.source == "schedule:stories" and n.room_id == ROOM
    ]


@pytest.mark.slow
async def test_new_data_retrains_once_the_dataset_grew_enough(start: Callable[..., Any]) -> None:
    services = await start(schedule("new_data", min_new_records=20))
    await train_first_version(services)

    await upload(services, records(40) + records(10, seed=1))
    waiting = await services.schedules.evaluate("stories")
    assert (False, None) == (waiting.retrain, waiting.job_id)
    assert (
        "stories@v2 has 50 examples, 10 more than stories@v1 (40) that stories@v1 was "
        "trained on; 20 are needed to retrain"
    ) == waiting.reason
    assert 10 == waiting.details["new_records"]

    await upload(services, records(40) + records(25, seed=1))
    decided = await services.schedules.evaluate("stories")
    assert decided.retrain and decided.job_id is not None
    assert (
        "stories@v3 has 65 examples, 25 more than stories@v1 (40) that stories@v1 was "
        "trained on; 20 are enough to retrain"
    ) == decided.reason
    job = await services.jobs.get(decided.job_id)
    v3 = await services.datasets.resolve("stories@v3")
    assert ("stories", v3.id, "schedule:stories", ROOM) == (
        job.name,
        job.dataset_id,
        job.requested_by,
        job.room_id,
    )
    events = await wait_for(services, job.id, is_final_state)
    assert "succeeded" == events[-1].data["status"]
    retrained = await services.models.resolve("stories@v2")
    assert v3.id == retrained.dataset_id

    # Counted from the retrained version: nothing new since, so no third run.
    after = await services.schedules.evaluate("stories")
    assert not after.retrain and "0 more than stories@v3 (65)" in after.reason
    assert [d.id for d in (after, decided, waiting)] == [
        d.id for d in await services.schedules.history("stories")
    ]
    posted = await notices(services)
    assert 3 == len(posted)
    assert posted[0].startswith("Not retraining stories (policy new_data): stories@v2 has 50")
    assert posted[1].endswith(f"20 are enough to retrain. Queued job {job.id}.")


async def test_new_data_without_a_model_or_a_dataset(start: Callable[..., Any]) -> None:
    services = await start(schedule("new_data", room_id=ROOM))
    missing = await services.schedules.evaluate("stories")
    assert not missing.retrain
    assert "dataset stories does not exist yet, so there is nothing to train on" == missing.reason

    await upload(services, records(12))
    first = await services.schedules.evaluate("stories")
    assert first.retrain and first.job_id
    assert "there is no version of stories yet; stories@v1 has 12 examples" == first.reason
    await services.jobs.cancel(first.job_id)
    assert 2 == len(await notices(services))  # posted to the schedule's own room


async def test_cron_retrains_and_a_job_still_active_blocks_the_next(
    start: Callable[..., Any],
) -> None:
    services = await start(schedule("cron", cron="0 3 * * *", room_id=ROOM))
    await upload(services, records(12))
    due = await services.schedules.evaluate("stories")
    assert due.retrain and due.job_id
    assert "the cron schedule '0 3 * * *' is due; retraining on stories@v1" == due.reason
    await services.jobs.pause(due.job_id)  # held in the queue (or paused at a checkpoint)

    blocked = await services.schedules.evaluate("stories")
    assert (False, None) == (blocked.retrain, blocked.job_id)
    assert blocked.reason.startswith(f"job {due.job_id} of stories is still ")
    assert blocked.reason.endswith("; no second retrain")
    assert 1 == len([j for j in await services.jobs.find() if j.name == "stories"])
    await services.jobs.cancel(due.job_id)


async def test_a_refused_job_is_recorded_as_the_reason(start: Callable[..., Any]) -> None:
    bad = schedule("cron", cron="0 3 * * *", room_id=ROOM, hyperparameters={"epochs": -1})
    services = await start(bad)
    await upload(services, records(12))
    refused = await services.schedules.evaluate("stories")
    assert (False, None) == (refused.retrain, refused.job_id)
    assert refused.reason.startswith(
        "the cron schedule '0 3 * * *' is due; retraining on "
        "stories@v1; but the retrain job was refused: "
    )
    assert "epochs" in refused.details["submit_error"]
    assert [] == await services.jobs.find()


@pytest.mark.slow
async def test_llm_yes_and_no_are_recorded_with_the_reason(
    start: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start(schedule("llm"), fake=fake)
    await train_first_version(services)
    await upload(services, [*records(40), {"text": "a brand new sentence about boats"}])

    fake.chat_reply = lambda messages: json.dumps(
        {"retrain": False, "reason": "One new record will not change the model."}
    )
    no = await services.schedules.evaluate("stories")
    assert (False, None) == (no.retrain, no.job_id)
    assert "One new record will not change the model." == no.reason

    fake.chat_reply = lambda messages: json.dumps({"retrain": True, "reason": "Boats are new."})
    yes = await services.schedules.evaluate("stories")
    assert (True, "Boats are new.") == (yes.retrain, yes.reason)
    assert yes.job_id is not None
    await services.jobs.cancel(yes.job_id)

    body = fake.chat_requests[-1].json
    assert {"type": "json_object"} == body["response_format"]
    facts = json.loads(body["messages"][-1]["content"])
    model = await services.models.resolve("stories@v1")
    assert model.metrics["eval_loss"] == facts["metrics"]["eval_loss"]
    assert ("stories@v1", 40, "stories@v2", 41, 1) == (
        facts["model"],
        facts["examples_then"],
        facts["dataset_now"],
        facts["examples_now"],
        facts["new_records"],
    )
    assert ["a brand new sentence about boats"] == facts["sample_new_records"]
    posted = await notices(services)
    assert [
        "Not retraining stories (policy llm): One new record will not change the model.",
        f"Retraining stories (policy llm): Boats are new. Queued job {yes.job_id}.",
    ] == posted


async def test_llm_answers_that_cannot_be_used_decide_no(
    start: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start(schedule("llm", room_id=ROOM), fake=fake)
    await upload(services, records(12))

    fake.chat_reply = lambda messages: "Sure, retrain it!"
    unreadable = await services.schedules.evaluate("stories")
    assert not unreadable.retrain
    assert unreadable.reason.endswith("so no retrain: Sure, retrain it!")
    assert unreadable.reason.startswith("the chat model's answer is not JSON")

    fake.chat_reply = lambda messages: json.dumps({"retrain": "maybe", "reason": "hm"})
    assert not (await services.schedules.evaluate("stories")).retrain

    fake.fail_next("POST /v1/chat/completions", 500)
    failed = await services.schedules.evaluate("stories")
    assert not failed.retrain
    assert failed.reason.startswith("the chat model could not be asked: ")
    assert [] == await services.jobs.find()
    assert 3 == len(await services.schedules.history("stories"))


async def test_llm_without_an_api_key_decides_by_new_data(start: Callable[..., Any]) -> None:
    services = await start(schedule("llm", room_id=ROOM))
    await upload(services, records(12))
    decided = await services.schedules.evaluate("stories")
    assert decided.retrain and decided.job_id
    assert (
        "llm policy without [openai] api_key: decided by new_data: there is no version "
        "of stories yet; stories@v1 has 12 examples"
    ) == decided.reason
    await services.jobs.cancel(decided.job_id)


def gibberish(count: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    return [
        {"text": "".join(rng.choice(string.ascii_uppercase + "#%&!?") for _ in range(80))}
        for _ in range(count)
    ]


@pytest.mark.slow
async def test_metric_compares_eval_loss_on_new_data_with_training(
    start: Callable[..., Any],
) -> None:
    services = await start(schedule("metric", metric_threshold_pct=12, room_id=ROOM))
    await upload(services, records(12))
    nothing = await services.schedules.evaluate("stories")
    assert "stories has no active version whose eval loss could be measured" == nothing.reason

    await train_first_version(services)
    then = (await services.models.resolve("stories@v1")).metrics["eval_loss"]
    await upload(services, records(40) + records(20, seed=3))
    similar = await services.schedules.evaluate("stories")
    assert not similar.retrain, similar.reason
    assert (20, True, then) == (
        similar.details["measured_examples"],
        similar.details["new_only"],
        similar.details["eval_loss_then"],
    )
    assert "it takes 12% worse to retrain" in similar.reason

    await upload(services, records(40) + gibberish(20))
    drifted = await services.schedules.evaluate("stories")
    assert drifted.retrain and drifted.job_id, drifted.reason
    assert drifted.details["worse_pct"] >= 12
    now = drifted.details["eval_loss_now"]
    assert (
        f"eval loss of stories@v1 on 20 new examples of stories@v4 is {now:.4f}, "
        f"{drifted.details['worse_pct']:.1f}% worse than {then:.4f} at training; 12% worse "
        "is enough to retrain"
    ) == drifted.reason
    await services.jobs.cancel(drifted.job_id)


async def test_the_scheduler_evaluates_every_interval(start: Callable[..., Any]) -> None:
    services = await start(schedule("new_data", every="0.3s", room_id=ROOM), scheduler=True)
    [view] = await services.schedules.overview()
    assert view.next_run is not None
    decisions: list[DecisionRow] = []
    for _ in range(200):
        decisions = await services.schedules.history("stories")
        if len(decisions) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(decisions) >= 2
    assert {"dataset stories does not exist yet, so there is nothing to train on"} == {
        d.reason for d in decisions
    }


async def test_an_unknown_model_is_explained_and_nothing_recorded(
    start: Callable[..., Any],
) -> None:
    from bot.core.errors import NotFound

    services = await start(schedule("new_data"))
    with pytest.raises(
        NotFound, match="no retraining schedule for model 'poems'; configured: stories"
    ):
        await services.schedules.evaluate("poems")
    assert [] == await services.store.decisions.recent("poems")


async def test_a_models_reason_is_posted_as_plain_text(
    start: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start(schedule("llm", room_id=ROOM), fake=fake)
    await upload(services, records(12))
    probe = "[Re-verify your account](https://evil.example/login) **now** @ROOM"
    fake.chat_reply = lambda messages: json.dumps({"retrain": False, "reason": probe})

    assert probe == (await services.schedules.evaluate("stories")).reason

    [notice] = await services.notifications.pending()
    assert (False, f"Not retraining stories (policy llm): {probe}.") == (
        notice.markdown,
        notice.text,
    )
    shown = notice_content(notice)["formatted_body"]
    assert "<a " not in shown and "<strong>" not in shown and "@\u200dROOM" in shown
