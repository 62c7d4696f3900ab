"""A client that leaves mid-stream stops its generation: nothing more is written or saved."""

import json
import time
import urllib.request

from tests.http.support import TOKEN
from tests.openai_api.conftest import Trained
from tests.openai_api.support import ServerThread


def _saved(server: ServerThread, model_id: str) -> int:
    rows = server.run(server.app.services.store.predictions.find(model_id=model_id, limit=1000))
    assert isinstance(rows, list)
    return len(rows)


def test_leaving_mid_stream_cancels_the_generation(server: ServerThread, trained: Trained) -> None:
    job_id = (trained.job.id or "").removeprefix("ftjob-")
    job = server.run(server.app.services.store.jobs.get(job_id))
    model_id = job.model_id  # type: ignore[attr-defined]
    before = _saved(server, model_id)
    body = {
        "model": trained.job.fine_tuned_model,
        "prompt": "the cat",
        "max_tokens": 256,  # the cap: far more than arrives before the client leaves
        "seed": 1,
        "stream": True,
    }
    request = urllib.request.Request(
        f"{server.url}/openai/v1/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    generation = server.app.services.generation
    with urllib.request.urlopen(request) as response:
        first = json.loads(response.readline().decode().removeprefix("data: "))
        assert first["choices"][0]["finish_reason"] is None  # still generating
        assert 1 == generation.in_flight
    # The connection is closed: the worker's slot frees long before 256 tokens are written.
    deadline = time.monotonic() + 30
    while generation.in_flight:
        assert time.monotonic() < deadline, "the generation went on after the client left"
        time.sleep(0.05)
    assert before == _saved(server, model_id)  # an abandoned answer is not saved
