"""Refusals reach the official client as the exception class OpenAI's own would raise."""

import openai
import pytest
from openai import OpenAI

from tests.openai_api.conftest import READER
from tests.openai_api.support import chat_rows, jsonl
from tests.support.server_thread import ServiceProcess


def body(error: openai.APIStatusError) -> dict[str, object]:
    """The error object the server sent (the client unwraps {"error": …})."""
    assert isinstance(error.body, dict)
    return error.body


def test_a_bad_row_is_a_bad_request_naming_its_line(client: OpenAI) -> None:
    before = [f.id for f in client.files.list()]
    bad = jsonl(chat_rows(12)) + b'{"messages": [{"role": "robot", "content": "x"}]}\n'
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(file=("bad rows.jsonl", bad), purpose="fine-tune")
    assert 400 == raised.value.status_code
    assert (
        "bad rows.jsonl is not a valid fine-tuning file: line 13: message 1: unknown role "
        "'robot' (allowed: system, user, assistant)"
    ) == body(raised.value)["message"]
    assert {"message", "type", "param", "code"} == set(body(raised.value))
    assert before == [f.id for f in client.files.list()]  # nothing stored


def test_only_fine_tune_files_are_taken(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(file=("a.jsonl", jsonl(chat_rows(12))), purpose="assistants")
    assert "purpose" == raised.value.param


def test_an_unknown_model_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(
            model="ft:micro:nothing:nojob", messages=[{"role": "user", "content": "hi"}]
        )
    assert ("model", "model_not_found") == (raised.value.param, raised.value.code)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_a_base_preset_is_listed_but_not_served_nor_deleted(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.completions.create(model="micro", prompt="the cat")
    assert "fine-tune it first" in raised.value.message
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("micro")
    assert "micro" == client.models.retrieve("micro").id


def test_an_unknown_training_file_is_a_bad_request(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(training_file="file-nothing", model="micro")
    assert "training_file" == raised.value.param


def test_tokens_and_scopes_are_checked(server: ServiceProcess, client: OpenAI) -> None:
    base_url = f"{server.url}/openai/v1"
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    reader = OpenAI(base_url=base_url, api_key=READER, max_retries=0)
    assert "micro" in [m.id for m in reader.models.list()]
    with pytest.raises(openai.PermissionDeniedError) as raised:
        reader.fine_tuning.jobs.create(training_file="file-x", model="micro")
    assert "the 'train' scope" in raised.value.message


def test_a_bad_parameter_is_a_bad_request_naming_it(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model="micro", prompt="x", max_tokens=0)
    assert "max_tokens" == raised.value.param


def test_an_unknown_path_answers_in_openai_shape(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.get("/assistants", cast_to=object)
    assert {"message": "Not Found", "type": "invalid_request_error", "param": None} == {
        k: v for k, v in body(raised.value).items() if k != "code"
    }


def test_a_backend_that_is_unknown_or_not_configured_is_refused(client: OpenAI) -> None:
    file_id = client.files.create(file=("b.jsonl", jsonl(chat_rows(12))), purpose="fine-tune").id
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
    refusals = {}
    for backend in ("ray", "mars"):
        with pytest.raises(openai.BadRequestError) as raised:
            client.fine_tuning.jobs.create(
                training_file=file_id, model="micro", extra_body={"backend": backend}
            )
        refusals[backend] = (raised.value.param, raised.value.message)
    assert "backend" == refusals["ray"][0] == refusals["mars"][0]
    assert "backend=ray needs the [ray] section configured" in refusals["ray"][1]
    assert "'local', 'openai' or 'ray'" in refusals["mars"][1]
    assert before == [j.id for j in client.fine_tuning.jobs.list(limit=100)]  # none queued


def test_a_validation_file_must_exist_and_match_the_training_format(client: OpenAI) -> None:
    chat = client.files.create(file=("c.jsonl", jsonl(chat_rows(12))), purpose="fine-tune").id
    texts = jsonl([{"text": f"line {i} of plain text"} for i in range(12)])
    text = client.files.create(file=("t.jsonl", texts), purpose="fine-tune").id
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
    refusals = []
    for validation in ("file-nothing", text):
        with pytest.raises(openai.BadRequestError) as raised:
            client.fine_tuning.jobs.create(
                training_file=chat, validation_file=validation, model="micro"
            )
        refusals.append((raised.value.param, str(body(raised.value)["message"])))
    assert [("validation_file", "invalid validation_file: file-nothing")] == refusals[:1]
    assert "is in the text format and training_file" in refusals[1][1]
    assert "in the chat format: they must match" in refusals[1][1]
    assert before == [j.id for j in client.fine_tuning.jobs.list(limit=100)]  # none queued
