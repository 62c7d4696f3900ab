"""Preference tuning on a pretrained base folder through the official client, and the
fine-tuned model deleted once a newer version replaced it."""

import urllib.request

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning.job_create_params import Method

from tests.http.support import TOKEN
from tests.openai_api.conftest import PRETRAINED, trainbot_get, wait_final
from tests.openai_api.support import WORDS, jsonl
from tests.support.server_thread import ServiceProcess


def preference_rows(count: int) -> list[dict[str, object]]:
    """OpenAI's preference format: the preferred answer repeats the question's last word."""
    rows: list[dict[str, object]] = []
    for i in range(count):
        words = [WORDS[(i + k) % len(WORDS)] for k in range(3)]
        rows.append(
            {
                "input": {"messages": [{"role": "user", "content": " ".join(words)}]},
                "preferred_output": [{"role": "assistant", "content": f"{words[-1]} again"}],
                "non_preferred_output": [{"role": "assistant", "content": "no idea"}],
            }
        )
    return rows


DPO: Method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}}


def test_dpo_on_a_base_folder_and_deleting_the_replaced_version(
    server: ServiceProcess, client: OpenAI
) -> None:
    prefs = client.files.create(
        file=("prefs.jsonl", jsonl(preference_rows(16))), purpose="fine-tune"
    )
    jobs = []
    for _ in range(2):  # two versions of one model: the first is replaced by the second
        created = client.fine_tuning.jobs.create(
            training_file=prefs.id, model=PRETRAINED, suffix="prefs", method=DPO, seed=3
        )
        done, _ = wait_final(client, created.id)
        assert ("succeeded", None) == (done.status, done.error), done.error
        jobs.append(done)
    first, second = (job.fine_tuned_model for job in jobs)
    assert first and second and first != second
    assert first.startswith(f"ft:{PRETRAINED}:prefs:"), first

    # The DPO job as Trainbot runs it: its method and beta, and the reward metrics.
    method = jobs[0].method
    assert method is not None and method.dpo is not None and method.dpo.hyperparameters
    assert ("dpo", 0.2) == (method.type, method.dpo.hyperparameters.beta)
    mine = trainbot_get(server, f"/v1/jobs/{jobs[0].id.removeprefix('ftjob-')}")
    assert {"reward_margin", "reward_accuracy"} <= set(mine["result"]), mine["result"]
    answer = client.chat.completions.create(
        model=second, messages=[{"role": "user", "content": "cat sat on"}], max_tokens=4
    )
    assert answer.choices[0].message.content is not None

    # Once the newer version is the active one (Trainbot's own API: the OpenAI API has no
    # such call), the replaced version goes; the newer one stays served.
    with pytest.raises(openai.ConflictError):
        client.models.delete(first)
    activate = urllib.request.Request(
        f"{server.url}/v1/models/prefs@v2/activate",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(activate) as response:
        assert 200 == response.status
    deleted = client.models.delete(first)
    assert (first, True) == (deleted.id, deleted.deleted)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(first)
    listed = [m.id for m in client.models.list()]
    assert (first not in listed, second in listed) == (True, True)
    assert second == client.models.retrieve(second).id
    # The job that trained the deleted version still reads, without a model to serve.
    assert "succeeded" == client.fine_tuning.jobs.retrieve(jobs[0].id).status
