"""Job control and listing through the official client: cancel, `after` pages, metadata."""

import time

import openai
import pytest
from openai import OpenAI

from tests.openai_api.conftest import LISTED_ROOM, TRAINER, Trained, trainbot_get, wait_final
from tests.openai_api.support import chat_rows, jsonl
from tests.support.server_thread import ServiceProcess


@pytest.fixture(scope="module")
def small_file(client: OpenAI) -> str:
    return client.files.create(
        file=("small.jsonl", jsonl(chat_rows(12, seed=3))), purpose="fine-tune"
    ).id


def test_cancel_ends_a_job_without_a_model(client: OpenAI, small_file: str) -> None:
    job = client.fine_tuning.jobs.create(
        training_file=small_file, model="micro", hyperparameters={"n_epochs": 50}
    )
    client.fine_tuning.jobs.cancel(job.id)  # a running job stops at its next step
    final, _ = wait_final(client, job.id)
    assert ("cancelled", None) == (final.status, final.fine_tuned_model)
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(job.id)


def test_jobs_are_paged_with_after_and_filtered_by_metadata(
    client: OpenAI, small_file: str, trained: Trained
) -> None:
    made = []
    for index in range(3):
        job = client.fine_tuning.jobs.create(
            training_file=small_file, model="micro", metadata={"batch": "paging", "n": str(index)}
        )
        client.fine_tuning.jobs.cancel(job.id)
        made.append(job.id)
    newest_first = made[::-1]
    first = client.fine_tuning.jobs.list(limit=2, metadata={"batch": "paging"})
    second = client.fine_tuning.jobs.list(
        limit=2, after=first.data[-1].id, metadata={"batch": "paging"}
    )
    assert (True, False) == (first.has_more, second.has_more)
    assert newest_first == [j.id for j in first.data + second.data]
    only = client.fine_tuning.jobs.list(metadata={"batch": "paging", "n": "1"}).data
    assert [made[1]] == [j.id for j in only]
    everything = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
    assert [*newest_first, trained.job.id] == [
        i for i in everything if i in made or i == trained.job.id
    ]
    for job_id in made:
        wait_final(client, job_id)


def test_an_unknown_job_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nosuchjob")


def test_pause_resume_and_a_room_to_follow_the_job(
    server: ServiceProcess, client: OpenAI, small_file: str
) -> None:
    job = client.fine_tuning.jobs.create(
        training_file=small_file,
        model="micro",
        hyperparameters={"n_epochs": 50},
        metadata={"room_id": "!follow:example.org"},
    )
    mine = trainbot_get(server, f"/v1/jobs/{job.id.removeprefix('ftjob-')}")
    assert "!follow:example.org" == mine["room_id"]
    wait_status(client, job.id, "running")  # paused mid-run, at a checkpoint
    # While it runs, `estimated_finish` is a Unix time after its creation (from the
    # newest progress event's ETA); a paused job has none, as at OpenAI.
    deadline = time.monotonic() + 60
    while (running := client.fine_tuning.jobs.retrieve(job.id)).estimated_finish is None:
        assert "running" == running.status and time.monotonic() < deadline, running.status
        time.sleep(0.1)
    assert running.estimated_finish >= running.created_at, running
    client.fine_tuning.jobs.pause(job.id)
    assert "paused" == wait_status(client, job.id, "paused")
    assert client.fine_tuning.jobs.retrieve(job.id).estimated_finish is None
    assert "queued" == client.fine_tuning.jobs.resume(job.id).status
    client.fine_tuning.jobs.cancel(job.id)
    assert "cancelled" == wait_final(client, job.id)[0].status


def test_a_room_id_that_is_not_one_is_refused(client: OpenAI, small_file: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(
            training_file=small_file, model="micro", metadata={"room_id": "general"}
        )
    assert "metadata" == raised.value.param


def test_only_an_admin_token_or_a_listed_room_may_follow_a_job(
    server: ServiceProcess, client: OpenAI, small_file: str
) -> None:
    ci = OpenAI(base_url=f"{server.url}/openai/v1", api_key=TRAINER, max_retries=0)
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
    with pytest.raises(openai.PermissionDeniedError) as raised:
        ci.fine_tuning.jobs.create(
            training_file=small_file, model="micro", metadata={"room_id": "!other:example.org"}
        )
    assert ("metadata", "room_not_allowed") == (raised.value.param, raised.value.code)
    assert "only name a room listed in the bot's matrix.allowed_rooms" in raised.value.message
    assert before == [j.id for j in client.fine_tuning.jobs.list(limit=100)]  # none queued
    listed = ci.fine_tuning.jobs.create(
        training_file=small_file, model="micro", metadata={"room_id": LISTED_ROOM}
    )
    client.fine_tuning.jobs.cancel(listed.id)
    mine = trainbot_get(server, f"/v1/jobs/{listed.id.removeprefix('ftjob-')}")
    assert (LISTED_ROOM, "api:ci") == (mine["room_id"], mine["requested_by"])
    wait_final(client, listed.id)


def wait_status(client: OpenAI, job_id: str, status: str, within_s: float = 60) -> str:
    deadline = time.monotonic() + within_s
    while (seen := client.fine_tuning.jobs.retrieve(job_id).status) != status:
        assert time.monotonic() < deadline, f"job {job_id} stuck in {seen}"
        time.sleep(0.1)
    return seen
