"""Errors are JSON with a readable message, and a refused request changes nothing."""

import dataclasses
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog

from bot.app import App
from bot.core.services import Services
from bot.logs import configure_logging
from tests.http.support import Api, records

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def services(app: App) -> Services:
    return app.services


async def test_a_bad_body_lists_the_field_errors(api: Api) -> None:
    reply = await api.post("/v1/jobs", json={"dataset": 5, "epochs": 3, "backend": "cloud"})
    assert 422 == reply.status
    error = reply.error
    assert "invalid" == error["code"]
    fields = {(tuple(d["loc"]), d["type"]) for d in error["details"]}
    assert {
        (("dataset",), "string_type"),
        (("epochs",), "extra_forbidden"),
        (("backend",), "literal_error"),
    } == fields
    assert "dataset: Input should be a valid string" in error["message"]


async def test_missing_fields_and_broken_json_are_422(api: Api) -> None:
    missing = await api.post("/v1/jobs", json={})
    assert 422 == missing.status
    assert [["dataset"]] == [d["loc"] for d in missing.error["details"]]
    broken = await api.post(
        "/v1/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert 422 == broken.status
    assert "json_invalid" == broken.error["details"][0]["type"]


async def test_a_string_is_not_a_number_in_a_body(api: Api) -> None:
    reply = await api.post("/v1/generate", json={"prompt": "hi", "max_tokens": "5"})
    assert 422 == reply.status
    assert ["max_tokens"] == reply.error["details"][0]["loc"]


async def test_numbers_must_be_finite(api: Api) -> None:
    body = b'{"dataset": "x", "hyperparameters": {"learning_rate": NaN}}'
    reply = await api.post("/v1/jobs", data=body, headers={"Content-Type": "application/json"})
    assert 422 == reply.status


async def test_query_strings_are_validated(api: Api) -> None:
    reply = await api.get("/v1/jobs?limit=0&status=sleeping")
    assert 422 == reply.status
    assert {("limit",), ("status",)} == {tuple(d["loc"]) for d in reply.error["details"]}


async def test_unknown_things_are_404_with_a_hint(api: Api) -> None:
    for path in ("/v1/jobs/nosuchjob", "/v1/datasets/nosuch", "/v1/models/nosuch"):
        reply = await api.get(path)
        assert 404 == reply.status, path
        assert "not_found" == reply.error["code"]
        assert "GET /v1/" in reply.error["message"]
    assert 404 == (await api.post("/v1/jobs/nosuchjob/cancel")).status
    assert 404 == (await api.get("/v1/nowhere")).status


async def test_a_job_on_a_missing_dataset_is_refused_and_nothing_is_stored(api: Api) -> None:
    before = (await api.get("/v1/jobs?limit=200")).json["jobs"]
    reply = await api.post("/v1/jobs", json={"dataset": "never-uploaded"})
    assert 404 == reply.status
    assert "no dataset 'never-uploaded'" in reply.error["message"]
    assert before == (await api.get("/v1/jobs?limit=200")).json["jobs"]


async def test_bad_hyperparameters_are_named(api: Api) -> None:
    await api.post("/v1/datasets", json={"name": "hp-check", "records": records(12)})
    body = {"dataset": "hp-check", "hyperparameters": {"epochz": 1, "lr": 5}}
    reply = await api.post("/v1/jobs", json=body)
    assert 422 == reply.status
    assert "unknown hyperparameter 'epochz'" in reply.error["message"]
    assert "learning_rate must be between" in reply.error["message"]


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    big = {"name": "big", "records": [{"text": "x" * 1000}] * 1200}  # about 1.2 MiB
    reply = await api.post("/v1/datasets", json=big)
    assert 413 == reply.status
    assert "too_large" == reply.error["code"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        for _ in range(1200):
            yield b"x" * 1024

    streamed = await api.post(
        "/v1/datasets", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert 413 == streamed.status
    assert "too_large" == streamed.error["code"]
    assert "big" not in {d["name"] for d in (await api.get("/v1/datasets")).json["datasets"]}


async def test_a_full_queue_is_429_with_retry_after(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.post("/v1/datasets", json={"name": "queue-check", "records": records(12)})
    full = dataclasses.replace(services.jobs.settings, max_queue_length=0)
    monkeypatch.setattr(services.jobs, "settings", full)
    reply = await api.post("/v1/jobs", json={"dataset": "queue-check"})
    assert 429 == reply.status
    assert "too_many_requests" == reply.error["code"]
    assert int(reply.headers["Retry-After"]) > 0


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_an_unexpected_error_is_500_with_a_logged_request_id(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch, log_lines: io.StringIO
) -> None:
    async def broken(name: str | None = None) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services.datasets, "versions", broken)
    reply = await api.get("/v1/datasets")
    assert 500 == reply.status
    error = reply.error
    assert "internal" == error["code"]
    assert "disk on fire" not in reply.text  # internals stay in the log
    assert error["request_id"] == reply.headers["X-Request-Id"]
    assert error["request_id"] in error["message"]
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failure = next(e for e in logged if e["event"] == "unhandled error")
    assert error["request_id"] == failure["request_id"]
    assert "disk on fire" in failure["exception"]
