"""The guides' flow with the official client: upload, fine-tune, poll, chat."""

import pytest
from openai import AsyncOpenAI, OpenAI

from tests.http.support import TOKEN
from tests.openai_api.conftest import Trained, trainbot_get
from tests.support.server_thread import ServiceProcess


def test_a_file_is_a_validated_dataset_version(client: OpenAI, trained: Trained) -> None:
    got = client.files.retrieve(trained.file.id)
    assert ("guide.jsonl", "fine-tune", "processed") == (got.filename, got.purpose, got.status)
    content = client.files.content(trained.file.id).read()
    assert got.bytes == len(content)
    assert 12 == len(content.decode().splitlines())
    assert trained.file.id in [f.id for f in client.files.list()]


def test_the_job_trains_to_a_fine_tuned_model(trained: Trained) -> None:
    job = trained.job
    trainbot_id = job.id.removeprefix("ftjob-")
    assert f"ft:micro:guide:{trainbot_id}" == job.fine_tuned_model
    assert "succeeded" == trained.statuses[-1]
    assert {"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 2.0} == (
        job.hyperparameters.model_dump()
    )
    assert (7, {"team": "docs"}, trained.file.id) == (job.seed, job.metadata, job.training_file)
    assert trained.validation.id == job.validation_file
    assert job.trained_tokens is not None and job.trained_tokens > 0
    assert job.error is None and job.finished_at is not None


def test_the_validation_file_cannot_be_deleted_while_its_job_is_active(
    client: OpenAI, trained: Trained
) -> None:
    trainbot_id = trained.job.id.removeprefix("ftjob-")
    message = f"dataset held@v1 is used by job {trainbot_id}; cancel or finish it first"
    error = {"message": message, "type": "conflict_error", "param": None, "code": "conflict"}
    assert (409, {"error": error}) == (
        trained.held_delete.status_code,
        trained.held_delete.response.json(),
    )
    # Nothing harmed: the file is still there, byte for byte, and the job succeeded.
    assert trained.held_bytes == client.files.content(trained.validation.id).read()
    assert "processed" == client.files.retrieve(trained.validation.id).status


def test_the_job_is_the_one_the_trainbot_api_shows(
    server: ServiceProcess, trained: Trained
) -> None:
    mine = trainbot_get(server, f"/v1/jobs/{trained.job.id.removeprefix('ftjob-')}")
    assert ("succeeded", "guide@v1") == (mine["status"], mine["result"]["model"])
    assert 2 * 5e-4 == pytest.approx(mine["hyperparameters"]["learning_rate"])
    assert 7 == mine["hyperparameters"]["seed"]


def test_chat_with_the_fine_tuned_model(client: OpenAI, trained: Trained) -> None:
    assert trained.job.fine_tuned_model is not None
    answer = client.chat.completions.create(
        model=trained.job.fine_tuned_model,
        messages=[{"role": "user", "content": "the cat sat on"}],
        max_tokens=6,
        temperature=0,
    )
    choice = answer.choices[0]
    assert ("assistant", trained.job.fine_tuned_model) == (choice.message.role, answer.model)
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    # A tiny model may end its turn at once; "length" means it used every token allowed.
    ended = "length" if answer.usage.completion_tokens == 6 else "stop"
    assert ended == choice.finish_reason
    total = answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert total == answer.usage.total_tokens


def test_events_are_newest_first_and_paged_with_after(client: OpenAI, trained: Trained) -> None:
    every = client.fine_tuning.jobs.list_events(trained.job.id, limit=100).data
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in every]
    assert sorted(seqs, reverse=True) == seqs
    assert "Fine-tuning job queued" == every[-1].message
    # The validation file is the validation set: all 12 training rows train.
    assert any(e.message.endswith("12 examples, 10 for validation") for e in every)
    assert any(e.type == "metrics" and "training loss=" in e.message for e in every)
    first = client.fine_tuning.jobs.list_events(trained.job.id, limit=3)
    second = client.fine_tuning.jobs.list_events(trained.job.id, limit=3, after=first.data[-1].id)
    assert (True, [e.id for e in every[:6]]) == (
        first.has_more,
        [e.id for e in first.data + second.data],
    )


def test_checkpoints_carry_openai_metrics(client: OpenAI, trained: Trained) -> None:
    checkpoints = client.fine_tuning.jobs.checkpoints.list(trained.job.id).data
    assert checkpoints, "the job wrote no checkpoint"
    newest = checkpoints[0]
    assert trained.job.id == newest.fine_tuning_job_id
    assert f"{trained.job.fine_tuned_model}:ckpt-step-{newest.step_number}" == (
        newest.fine_tuned_model_checkpoint
    )
    assert newest.metrics.train_loss is not None and newest.metrics.train_loss > 0
    assert float(newest.step_number) == newest.metrics.step


async def test_the_async_client_lists_and_uses_the_model(
    server: ServiceProcess, trained: Trained
) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None
    async with AsyncOpenAI(base_url=f"{server.url}/openai/v1", api_key=TOKEN) as client:
        listed = [m.id async for m in client.models.list()]
        assert {"tiny", "small", "micro", model} <= set(listed)
        assert ("model", "trainbot") == (
            (await client.models.retrieve(model)).object,
            (await client.models.retrieve(model)).owned_by,
        )
        answer = await client.completions.create(model=model, prompt="the dog", max_tokens=4, n=2)
        assert [0, 1] == [c.index for c in answer.choices]
        assert answer.usage is not None and answer.usage.completion_tokens <= 8
