"""`/files`: a file is a dataset version, validated by the dataset validator on upload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.core.errors import Invalid, NotFound
from bot.http.openai import ids
from bot.http.openai.errors import OpenAIError
from bot.http.openai.pages import page_of
from bot.http.openai.records import FileExtras, Records
from bot.http.openai.schemas import OpenAIFileForm, OpenAIPage
from bot.http.routing import Call, json_response
from storage.datasets import DatasetRow

NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
ERRORS_SHOWN = 5


async def openai_create_file(call: Call) -> web.StreamResponse:
    """Validate an uploaded JSONL and store it as the next version of a dataset."""
    if not isinstance(call.body, OpenAIFileForm):  # a JSON body, or no body at all
        raise OpenAIError("send the file as multipart/form-data", param="file")
    form = call.body
    if form.purpose != "fine-tune":
        raise OpenAIError(
            f"purpose {form.purpose!r} is not supported: Trainbot takes purpose='fine-tune'",
            param="purpose",
        )
    if "file" not in call.files:
        raise OpenAIError("send the JSONL in the multipart field 'file'", param="file")
    filename, data = call.files["file"]
    name = dataset_name(filename)
    try:
        upload = await call.services.datasets.upload_file(
            name, filename or "upload.jsonl", data, created_by=call.client
        )
    except Invalid as exc:
        raise OpenAIError(_refusal(filename or name, exc), param="file") from None
    records = Records(call.services.store)
    await records.put_file(upload.dataset.id, FileExtras(filename=filename or name))
    return json_response(file_object(upload.dataset, filename or name))


async def openai_list_files(call: Call) -> web.StreamResponse:
    """Every dataset version, newest first, paged with `after`."""
    q = call.query_as(OpenAIPage)
    rows = await call.services.datasets.versions()
    records = Records(call.services.store)
    items = [file_object(row, await _filename(records, row)) for row in rows]
    return json_response(page_of(items, q.limit, q.after))


async def openai_get_file(call: Call) -> web.StreamResponse:
    """One file."""
    row = await dataset_of(call, call.param("file_id"))
    return json_response(file_object(row, await _filename(Records(call.services.store), row)))


async def openai_file_content(call: Call) -> web.StreamResponse:
    """The file's bytes as uploaded."""
    row = await dataset_of(call, call.param("file_id"))
    return web.Response(body=Path(row.path).read_bytes(), content_type="text/plain")


async def openai_delete_file(call: Call) -> web.StreamResponse:
    """Delete a file; 409 while a job trains on it."""
    row = await call.services.datasets.delete((await dataset_of(call, call.param("file_id"))).id)
    await Records(call.services.store).forget_file(row.id)
    return json_response({"id": ids.file_id(row.id), "object": "file", "deleted": True})


async def dataset_of(call: Call, given: str) -> DatasetRow:
    """The dataset version a file id names; NotFound in OpenAI's words otherwise."""
    ref = ids.trainbot_ref(given, ids.FILE)
    row = await call.services.store.datasets.get(ref)
    if row is None:
        raise NotFound(f"No such File object: {given}")
    return row


def file_object(row: DatasetRow, filename: str) -> dict[str, Any]:
    """OpenAI's file object for a dataset version."""
    path = Path(row.path)
    return {
        "id": ids.file_id(row.id),
        "object": "file",
        "bytes": path.stat().st_size if path.exists() else 0,
        "created_at": int(row.created_at),
        "filename": filename,
        "purpose": "fine-tune",
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def dataset_name(filename: str) -> str:
    """A dataset name from an uploaded file's name (`my data.jsonl` → `my-data`)."""
    stem = NOT_NAME.sub("-", Path(filename or "upload").stem).strip("-._")[:64]
    return stem or "upload"


async def _filename(records: Records, row: DatasetRow) -> str:
    extras = await records.file(row.id)
    return extras.filename if extras else f"{row.name}{Path(row.path).suffix}"


def _refusal(filename: str, exc: Invalid) -> str:
    # Row errors name their line, as OpenAI's own validation does.
    details = exc.details if isinstance(exc.details, dict) else {}
    errors = [e for e in details.get("errors", []) if isinstance(e, dict) and "line" in e]
    if not errors:
        return f"{filename} is not a valid fine-tuning file: {exc.message}"
    listed = "; ".join(f"line {e['line']}: {e['message']}" for e in errors[:ERRORS_SHOWN])
    more = f" (and {len(errors) - ERRORS_SHOWN} more)" if len(errors) > ERRORS_SHOWN else ""
    return f"{filename} is not a valid fine-tuning file: {listed}{more}"
