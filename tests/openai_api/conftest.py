"""One real `trainbot run` for the OpenAI API tests, and one model trained through it.

The official clients (sync, and async in each test's own loop) talk to the command
people run, over HTTP only. The `trained` fixture goes through the guide's flow once
(upload → create → poll) and the tests read that job and its model.
"""

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import ConflictError, OpenAI
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob

from tests.http.support import TOKEN
from tests.openai_api.support import chat_rows, jsonl, write_jsonl
from tests.support.pretrained import build_base
from tests.support.server_thread import ServiceProcess, free_port

READER = "reader-token-0123456789"
TRAINER = "trainer-token-0123456789"
LISTED_ROOM = "!listed:example.org"  # in matrix.allowed_rooms
FINAL = ("succeeded", "failed", "cancelled")
PRETRAINED = "pretrained-gpt2"  # the folder build_base writes, under trainer.base_dirs


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("openai-api")
    pretrained = build_base(tmp_path_factory.getbasetemp(), "gpt2")
    with ServiceProcess(folder, service_config(folder / "data", pretrained.parent)) as running:
        yield running


def service_config(data_dir: Path, base_dir: Path) -> str:
    """A headless `trainbot run` on the micro preset with a full, a train and a read-only token.

    `base_dir` holds the tiny pretrained GPT-2 (`PRETRAINED`), a base a job may name.
    One generation at a time: a test can tell when a generation's slot is free again.
    """
    reader = f'{{token = "{READER}", name = "dashboard", scopes = ["read"]}}'
    trainer = f'{{token = "{TRAINER}", name = "ci", scopes = ["train"]}}'
    return (
        f'[matrix]\nenabled = false\nallowed_rooms = ["{LISTED_ROOM}"]\n'
        f'[storage]\ndata_dir = "{data_dir}"\n'
        f'[http]\nport = {free_port()}\ntokens = ["{TOKEN}", {reader}, {trainer}]\n'
        "max_concurrent_generations = 1\n"
        '[trainer]\ndefault_base = "micro"\nstop_grace_s = 10\nmax_concurrent_jobs = 1\n'
        f'base_dirs = ["{base_dir}"]\n'
    )


@pytest.fixture(scope="session")
def client(server: ServiceProcess) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/openai/v1", api_key=TOKEN, max_retries=0)


@dataclass
class Trained:
    """The uploaded file, the finished job and the time each poll saw."""

    file: FileObject
    validation: FileObject
    job: FineTuningJob
    statuses: list[str]
    held_delete: ConflictError  # deleting the validation file while the job was active
    held_bytes: bytes  # the validation file's content at upload


def trainbot_get(server: ServiceProcess, path: str) -> Any:
    """A GET on Trainbot's own API (`/v1/...`) with the full token, as JSON."""
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


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
    held = client.files.create(
        file=("held.jsonl", jsonl(chat_rows(10, seed=5))), purpose="fine-tune"
    )
    created = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        validation_file=held.id,
        model="micro",
        suffix="guide",
        seed=7,
        metadata={"team": "docs"},
        hyperparameters={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 2},
    )
    # The job holds its validation file as it holds its training file (test_flow checks).
    with pytest.raises(ConflictError) as refused:
        client.files.delete(held.id)
    job, seen = wait_final(client, created.id)
    assert "succeeded" == job.status, job.error
    return Trained(uploaded, held, job, seen, refused.value, jsonl(chat_rows(10, seed=5)))
