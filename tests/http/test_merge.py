"""LoRA over HTTP: an adapter job on a trained base, then POST /v1/models/{id}/merge."""

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from tests.http.support import FAST, Api, records

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def train(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    made = await api.post("/v1/jobs", json=body)
    assert 201 == made.status, made.text
    job = await api.wait_status(made.json["id"], "succeeded", "failed", within_s=400)
    assert "succeeded" == job["status"], job
    return job


def greedy(model: Any, tokenizer: Any) -> list[int]:
    import torch

    ids = tokenizer("the cat sat on", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False)
    return [int(t) for t in out[0, ids.shape[1] :]]


async def test_an_adapter_trained_over_http_merges_into_a_full_model_with_its_outputs(
    api: Api, app: App
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    upload = await api.post("/v1/datasets", json={"name": "merge-poems", "records": records(40)})
    assert 201 == upload.status, upload.text
    base_job = await train(api, {"dataset": "merge-poems", "hyperparameters": FAST})
    lora = {"type": "lora", "lora": {"r": 4, "targets": ["c_attn", "c_fc"]}}
    body = {"dataset": "merge-poems", "base": base_job["model_id"], "name": "merge-lora"}
    adapter_job = await train(
        api, {**body, "method": lora, "hyperparameters": {**FAST, "learning_rate": 0.01}}
    )
    adapter = (await api.get(f"/v1/models/{adapter_job['model_id']}")).json
    assert ("adapter", base_job["model_id"]) == (adapter["kind"], adapter["base"])
    base_row = await app.services.models.resolve(base_job["model_id"])
    adapter_row = await app.services.models.resolve(adapter["id"])
    assert base_row.path == adapter_row.base_path  # the folder hot-swap loads it onto

    # An adapter version as base: method=lora continues it, a new adapter of the same base.
    short = {**FAST, "max_steps": 2, "eval_every": 2, "save_every": 2}
    more = {"dataset": "merge-poems", "base": adapter["id"], "name": "merge-lora-more"}
    more_job = await train(api, {**more, "method": {"type": "lora"}, "hyperparameters": short})
    continued = await app.services.models.resolve(more_job["model_id"])
    assert ("adapter", base_job["model_id"], base_row.path, "merge-lora@v1") == (
        continued.kind,
        continued.base,
        continued.base_path,
        continued.metrics["continued_from"],
    )
    started = adapter_job["result"]["eval_loss"]  # step 0 evaluates the adapter it starts from
    assert started == pytest.approx(continued.metrics["base_eval_loss"], rel=1e-4)

    # The archive of an adapter is peft's folder and names its base by version.
    async with api.session.get(
        f"/v1/models/{adapter['id']}/archive", headers=api.headers()
    ) as response:
        assert 200 == response.status
        data = await response.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames()}
        config_file = tar.extractfile("merge-lora-v1/adapter_config.json")
        assert config_file is not None
        config = json.loads(config_file.read())
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    assert "model.safetensors" not in names
    assert "merge-poems@v1" == config["base_model_name_or_path"]

    merged = await api.post(f"/v1/models/{adapter['id']}/merge")
    assert 201 == merged.status, merged.text
    assert ("merge-lora@v2", "full") == (merged.json["label"], merged.json["kind"])

    models = app.services.models
    base_dir, adapter_dir, merged_dir = [
        (await models.resolve(i)).path
        for i in (base_job["model_id"], adapter["id"], merged.json["id"])
    ]
    assert not (Path(merged_dir) / "adapter_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir), adapter_dir
    )
    plain_base = AutoModelForCausalLM.from_pretrained(base_dir)
    merged_model = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert greedy(with_adapter, tokenizer) == greedy(merged_model, tokenizer)
    # The adapter changed the model: the comparison above is not base against base.
    assert greedy(plain_base, tokenizer) != greedy(merged_model, tokenizer)

    # Compared on the same examples, the merged model is the adapter: same loss, same answer.
    body = {"other": merged.json["id"], "prompt": "the cat sat on"}
    compared = await api.post(f"/v1/models/{adapter['id']}/compare", json=body)
    assert 200 == compared.status, compared.text
    sides = compared.json["sides"]
    assert ["merge-lora@v1", "merge-lora@v2"] == [s["model"]["label"] for s in sides]
    assert "merge-poems@v1" == compared.json["dataset"]
    assert sides[0]["examples"] == sides[1]["examples"] > 0
    assert sides[0]["eval_loss"] == pytest.approx(sides[1]["eval_loss"], rel=1e-4)
    assert sides[0]["answer"] == sides[1]["answer"] and sides[0]["answer"]

    # A full model does not merge; nothing is registered for the refusal.
    refused = await api.post(f"/v1/models/{merged.json['id']}/merge")
    expected = "merge-lora@v2 is a full model already; only LoRA adapters merge"
    assert (422, expected) == (refused.status, refused.error["message"])
    assert 404 == (await api.post("/v1/models/nosuchmodel/merge")).status
    assert [2, 1] == [m.version for m in await models.versions("merge-lora")]
