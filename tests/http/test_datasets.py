"""Dataset upload (multipart and JSON), validation errors, lookup by ref, delete."""

import json

import aiohttp
import pytest

from tests.http.support import Api, records

pytestmark = pytest.mark.asyncio(loop_scope="session")


def jsonl(rows: list[object]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def form(name: str, data: bytes, filename: str = "data.jsonl", **fields: str) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("name", name)
    for key, value in fields.items():
        body.add_field(key, value)
    body.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return body


async def names(api: Api) -> list[str]:
    return [d["label"] for d in (await api.get("/v1/datasets")).json["datasets"]]


async def test_multipart_upload_reports_validation_and_token_statistics(api: Api) -> None:
    reply = await api.post("/v1/datasets", data=form("mp-poems", jsonl(records(20))))
    assert 201 == reply.status, reply.text
    body = reply.json
    assert "mp-poems@v1" == body["dataset"]["label"]
    assert 20 == body["dataset"]["examples"] == body["report"]["examples"]
    assert body["report"]["ok"] and [] == body["report"]["errors"]
    assert body["dataset"]["stats"]["train_tokens"] > 0
    assert "20" in body["summary"]
    assert "/" not in body["report"]["path"]  # no server paths leak


async def test_json_records_upload_makes_the_next_version(api: Api) -> None:
    first = await api.post("/v1/datasets", json={"name": "js-poems", "records": records(12)})
    second = await api.post(
        "/v1/datasets", json={"name": "js-poems", "records": records(15), "format": "text"}
    )
    assert (201, 201) == (first.status, second.status)
    assert "js-poems@v2" == second.json["dataset"]["label"]
    assert api.token is not None
    assert second.json["dataset"]["created_by"].startswith("api:")
    assert api.token not in second.text


async def test_an_invalid_file_is_refused_with_row_errors_and_nothing_is_stored(api: Api) -> None:
    before = await names(api)
    rows = [*records(12), {"txt": "wrong key"}, "not an object"]
    data = jsonl(rows) + b"{broken json\n"
    reply = await api.post("/v1/datasets", data=form("bad-poems", data))
    assert 422 == reply.status
    error = reply.error
    assert "invalid" == error["code"]
    lines = [e["line"] for e in error["details"]["errors"]]
    assert [13, 14, 15] == lines
    assert all(e["message"] for e in error["details"]["errors"])
    assert before == await names(api)


async def test_skip_invalid_keeps_the_good_rows(api: Api) -> None:
    data = jsonl([*records(12), {"txt": "wrong key"}])
    reply = await api.post("/v1/datasets", data=form("skip-poems", data, skip_invalid="true"))
    assert 201 == reply.status, reply.text
    assert (12, 1) == (reply.json["report"]["examples"], reply.json["report"]["skipped"])


async def test_multipart_without_a_file_or_name_is_422(api: Api) -> None:
    no_file = aiohttp.FormData()
    no_file.add_field("name", "nofile")
    assert "'file'" in (await api.post("/v1/datasets", data=no_file)).error["message"]
    no_name = aiohttp.FormData()
    no_name.add_field("file", b"{}", filename="x.jsonl")
    reply = await api.post("/v1/datasets", data=no_name)
    assert 422 == reply.status
    assert ["name"] == reply.error["details"][0]["loc"]


async def test_a_dataset_is_found_by_id_prefix_name_and_version(api: Api) -> None:
    made = await api.post("/v1/datasets", json={"name": "ref-poems", "records": records(12)})
    dataset = made.json["dataset"]
    for ref in (dataset["id"], dataset["id"][:5], "ref-poems", "ref-poems@v1", "ref-poems@1"):
        reply = await api.get(f"/v1/datasets/{ref}")
        assert 200 == reply.status, ref
        assert dataset["id"] == reply.json["id"]
        assert reply.json["report"]["ok"]
        assert reply.json["stats"]["text"]
    assert 404 == (await api.get("/v1/datasets/ref-poems@v9")).status


async def test_delete_removes_one_version(api: Api) -> None:
    made = await api.post("/v1/datasets", json={"name": "gone-poems", "records": records(12)})
    dataset_id = made.json["dataset"]["id"]
    deleted = await api.delete(f"/v1/datasets/{dataset_id}")
    assert 200 == deleted.status
    assert "gone-poems@v1" == deleted.json["label"]
    assert 404 == (await api.get(f"/v1/datasets/{dataset_id}")).status
    assert "gone-poems@v1" not in await names(api)
    assert 404 == (await api.delete(f"/v1/datasets/{dataset_id}")).status
