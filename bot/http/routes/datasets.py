"""Dataset routes: upload (multipart file or JSON records), list, show, delete."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from bot.core.datasets import Upload
from bot.core.errors import Invalid
from bot.http.responses import DatasetList, DatasetOut, UploadOut
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import DatasetForm, DatasetRecords


async def upload_dataset(call: Call) -> web.StreamResponse:
    """Validate and store the next version of a dataset; 422 lists the row errors."""
    datasets = call.services.datasets
    upload: Upload
    if isinstance(call.body, DatasetForm):
        if "file" not in call.files:
            raise Invalid("multipart upload needs a file field named 'file'")
        filename, data = call.files["file"]
        form = call.body
        upload = await datasets.upload_file(
            form.name,
            filename or "upload.jsonl",
            data,
            format=form.format,
            skip_invalid=form.skip_invalid,
            created_by=call.client,
        )
    else:
        body = call.body_as(DatasetRecords)
        # Serialised in a thread: megabytes of records would stall the loop (and /healthz).
        data = await asyncio.to_thread(_jsonl, body.records)
        upload = await datasets.upload_file(
            body.name,
            "records.jsonl",
            data,
            format=body.format,
            skip_invalid=body.skip_invalid,
            created_by=call.client,
        )
    out = UploadOut(
        dataset=DatasetOut.of(upload.dataset), report=upload.report, summary=upload.summary
    )
    return json_response(out, 201)


def _jsonl(records: list[Any]) -> bytes:
    """Records as JSONL, one per line, as `DatasetService.upload_records` writes them."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


async def list_datasets(call: Call) -> web.StreamResponse:
    """Every dataset version, newest first."""
    rows = await call.services.datasets.versions()
    return json_response(DatasetList(datasets=[DatasetOut.of(r) for r in rows]))


async def get_dataset(call: Call) -> web.StreamResponse:
    """One version with its statistics and validation report."""
    row = await call.services.datasets.resolve(call.param("id"))
    return json_response(DatasetOut.of(row, report=True))


async def delete_dataset(call: Call) -> web.StreamResponse:
    """Delete a version; 409 while a job uses it."""
    row = await call.services.datasets.delete(call.param("id"))
    return json_response(DatasetOut.of(row))


ROUTES = (
    Route(
        "POST",
        "/v1/datasets",
        upload_dataset,
        "Upload a dataset version",
        "datasets",
        body=DatasetRecords,
        form=DatasetForm,
        files=("file",),
        response=UploadOut,
        status=201,
        errors=(404, 413, 422),
    ),
    Route(
        "GET",
        "/v1/datasets",
        list_datasets,
        "List dataset versions",
        "datasets",
        response=DatasetList,
    ),
    Route(
        "GET",
        "/v1/datasets/{id}",
        get_dataset,
        "Show a dataset version",
        "datasets",
        response=DatasetOut,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/v1/datasets/{id}",
        delete_dataset,
        "Delete a dataset version",
        "datasets",
        response=DatasetOut,
        errors=(404, 409, 422),
    ),
)
