"""A client that leaves mid-stream stops its generation: its slot frees, nothing is saved."""

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.http.support import TOKEN
from tests.openai_api.conftest import Trained, trainbot_get
from tests.support.server_thread import ServiceProcess

PROBE = {"prompt": "a", "max_tokens": 1}
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _completion(server: ServiceProcess, body: dict[str, object]) -> urllib.request.Request:
    data = json.dumps(body).encode()
    return urllib.request.Request(f"{server.url}/openai/v1/completions", data, HEADERS)


def _saved(server: ServiceProcess, model: str) -> int:
    return len(trainbot_get(server, f"/v1/predictions?model={model}&limit=500")["predictions"])


def _answered_once_free(server: ServiceProcess, model: str, within_s: float = 30) -> None:
    """Ask for one token until the service's one generation slot takes it (429: busy)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(_completion(server, PROBE | {"model": model})):
                return
        except urllib.error.HTTPError as busy:
            assert 429 == busy.code, busy.read()
        assert time.monotonic() < deadline, "the generation went on after the client left"
        time.sleep(0.05)


def test_leaving_mid_stream_cancels_the_generation(
    server: ServiceProcess, trained: Trained
) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None
    mine = trainbot_get(server, f"/v1/jobs/{trained.job.id.removeprefix('ftjob-')}")
    version = mine["result"]["model"]
    before = _saved(server, version)
    body = {
        "model": model,
        "prompt": "the cat",
        "max_tokens": 256,  # the cap: far more than arrives before the client leaves
        "seed": 1,
        "stream": True,
    }
    with urllib.request.urlopen(_completion(server, body)) as response:
        first = json.loads(response.readline().decode().removeprefix("data: "))
        assert first["choices"][0]["finish_reason"] is None  # still generating
        with pytest.raises(urllib.error.HTTPError) as busy:
            urllib.request.urlopen(_completion(server, PROBE | {"model": model}))
        busy.value.close()
        assert 429 == busy.value.code  # the service's one generation slot is this stream's
    # The connection is closed: the slot frees long before 256 tokens are written.
    _answered_once_free(server, model)
    assert before + 1 == _saved(server, version)  # the probe's answer, not the abandoned one
