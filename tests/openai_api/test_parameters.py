"""What the issue lists and the guide's flow does not reach: deleting a file, the model
guards, the sampling parameters, and `method` / `"auto"` reaching the Trainbot job."""

from typing import cast

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning.job_create_params import Method

from tests.openai_api.conftest import Trained, trainbot_get, wait_final
from tests.openai_api.support import chat_rows, jsonl
from tests.support.server_thread import ServiceProcess
from trainer.spec import Hyperparameters

ASK = [{"role": "user", "content": "the cat sat on"}]


def test_a_file_is_deleted_with_its_content(client: OpenAI) -> None:
    made = client.files.create(
        file=("gone.jsonl", jsonl(chat_rows(12, seed=8))), purpose="fine-tune"
    )
    deleted = client.files.delete(made.id)
    assert (made.id, "file", True) == (deleted.id, deleted.object, deleted.deleted)
    for read in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError):
            read(made.id)
    assert made.id not in [f.id for f in client.files.list()]


def test_the_active_fine_tuned_model_is_not_deleted(client: OpenAI, trained: Trained) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None
    with pytest.raises(openai.ConflictError) as refused:
        client.models.delete(model)
    assert (
        "guide@v1 is the active version; activate another version first"
        == (
            refused.value.body["message"]  # type: ignore[index]
        )
    )
    assert model == client.models.retrieve(model).id  # nothing harmed: still served
    assert client.completions.create(model=model, prompt="the", max_tokens=2).choices


def test_sampling_parameters_shape_the_answer(client: OpenAI, trained: Trained) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None

    def chat(**params: object) -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(model=model, messages=ASK, **params)  # type: ignore[call-overload,no-any-return]

    capped = chat(max_completion_tokens=2, temperature=0)
    assert capped.usage is not None and capped.usage.completion_tokens <= 2
    # The same seed repeats a sampled answer; top_p is taken.
    seeded = [chat(max_tokens=12, temperature=1.5, top_p=0.9, seed=11) for _ in range(2)]
    assert seeded[0].choices[0].message.content == seeded[1].choices[0].message.content
    # A stop string ends the answer before it, with finish_reason "stop".
    whole = chat(max_tokens=12, temperature=0).choices[0]
    text = whole.message.content or ""
    assert text and "length" == whole.finish_reason, text
    stop = _stop_within(text)
    stopped = chat(max_tokens=12, temperature=0, stop=[stop]).choices[0]
    assert (text[: text.index(stop)], "stop") == (stopped.message.content, stopped.finish_reason)


def _stop_within(text: str) -> str:
    """Two characters of `text` first found after its start (else its first character):
    a stop string the greedy answer meets, leaving some text before it when it can."""
    for i in range(1, len(text) - 1):
        pair = text[i : i + 2]
        if "\ufffd" not in pair and text.index(pair) == i:
            return pair
    return text[0]


def test_method_and_auto_hyperparameters_reach_the_trainbot_job(
    server: ServiceProcess, client: OpenAI
) -> None:
    small = client.files.create(
        file=("auto.jsonl", jsonl(chat_rows(12, seed=9))), purpose="fine-tune"
    )
    method: Method = {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}},
    }
    job = client.fine_tuning.jobs.create(training_file=small.id, model="micro", method=method)
    client.fine_tuning.jobs.cancel(job.id)
    mine = trainbot_get(server, f"/v1/jobs/{job.id.removeprefix('ftjob-')}")
    # "auto" leaves Trainbot's default; a number is taken as asked.
    assert (2, Hyperparameters().batch_size) == (
        mine["hyperparameters"]["epochs"],
        mine["hyperparameters"]["batch_size"],
    )
    assert job.method is not None and "supervised" == job.method.type
    wait_final(client, job.id)
    # A LoRA setting (Trainbot's extension of `method`) is checked by the backend.
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(
            training_file=small.id,
            model="micro",
            method=cast(Method, {"type": "supervised", "lora": {"r": 0}}),
        )
    assert "r" in refused.value.message, refused.value.message
    assert before == [j.id for j in client.fine_tuning.jobs.list(limit=100)]  # none queued
