"""One real App for the OpenAI API tests, served from its own thread, and one trained model.

The official `openai` client blocks, so the server runs in a background event loop; the
async client runs in each test's own loop. The `trained` fixture goes through the guide's
flow once (upload → create → poll) and the tests read that job and its model.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import OpenAI
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob

from tests.http.support import TOKEN, http_settings
from tests.openai_api.support import ServerThread, chat_rows, write_jsonl

READER = "reader-token-0123456789"
FINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tokens = [TOKEN, {"token": READER, "name": "dashboard", "scopes": ["read"]}]
    settings = http_settings(tmp_path_factory.mktemp("openai-api") / "data", tokens=tokens)
    with ServerThread(settings) as running:
        yield running


@pytest.fixture(scope="session")
def client(server: ServerThread) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/openai/v1", api_key=TOKEN, max_retries=0)


@dataclass
class Trained:
    """The uploaded file, the finished job and the time each poll saw."""

    file: FileObject
    job: FineTuningJob
    statuses: list[str]


def wait_final(
    client: OpenAI, job_id: str, within_s: float = 180
) -> tuple[FineTuningJob, list[str]]:
    """Poll a job as the guides do, until it ends; every status seen, in order."""
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in FINAL:
            return job, seen
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job.status}"
        time.sleep(0.2)


@pytest.fixture(scope="session")
def trained(client: OpenAI, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    path: Path = write_jsonl(tmp_path_factory.mktemp("upload"), "guide.jsonl", chat_rows(12))
    with path.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    created = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        model="micro",
        suffix="guide",
        seed=7,
        metadata={"team": "docs"},
        hyperparameters={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 2},
    )
    job, seen = wait_final(client, created.id)
    assert "succeeded" == job.status, job.error
    return Trained(uploaded, job, seen)
