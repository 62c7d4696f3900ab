"""One fetch of a data source: download the JSON answer, pick the items, drop known ones.

Everything that can go wrong raises `FetchFailed` with a message for people; the
sources service records it and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from bot.core.sources.selector import SelectError, json_kind, select_items
from trainer.data.detect import CSV_SUFFIXES
from trainer.data.readers import (
    csv_table,
    decode_lines,
    is_json_array,
    json_array_rows,
    jsonl_rows,
    paragraph_rows,
)

if TYPE_CHECKING:
    from bot.settings import SourceSettings

MAX_ANSWER_BYTES = 50 << 20


class FetchFailed(Exception):
    """A fetch that adds nothing; the message says why, for people."""


def shown_url(url: str) -> str:
    """The URL without its query string (which may hold a key) for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def download(session: aiohttp.ClientSession, source: SourceSettings) -> object:
    """The parsed JSON answer of the source's endpoint."""
    headers = dict(source.headers)
    # Secret values go on the wire and nowhere else (never into a message or a log).
    headers.update({key: value.get_secret_value() for key, value in source.secret_headers.items()})
    if source.body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    url = shown_url(source.url)
    try:
        async with session.request(
            source.method,
            source.url,
            headers=headers,
            data=source.body,
            timeout=aiohttp.ClientTimeout(total=source.timeout_s),
        ) as response:
            if not 200 <= response.status < 300:
                raise FetchFailed(f"{url} answered HTTP {response.status} {response.reason or ''}")
            data = await _read_capped(response, url)
    except TimeoutError:
        raise FetchFailed(f"{url} did not answer within {source.timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise FetchFailed(f"cannot fetch {url}: {exc or type(exc).__name__}") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise FetchFailed(f"the answer of {url} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FetchFailed(
            f"the answer of {url} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


async def _read_capped(response: aiohttp.ClientResponse, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise FetchFailed(f"the answer of {url} is larger than {MAX_ANSWER_BYTES >> 20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def pick_records(answer: object, select: str) -> tuple[list[dict[str, Any]], int]:
    """Records from the selected items, and how many blank strings were left out.

    A string becomes `{"text": …}`; an object is a record as it is (prompt/completion,
    chat messages, …); anything else fails the fetch.
    """
    try:
        items = select_items(answer, select)
    except SelectError as exc:
        raise FetchFailed(str(exc)) from None
    records: list[dict[str, Any]] = []
    blank = 0
    for number, item in enumerate(items, 1):
        if isinstance(item, str):
            if item.strip():
                records.append({"text": item})
            else:
                blank += 1
        elif isinstance(item, dict):
            records.append(item)
        else:
            raise FetchFailed(
                f"item {number} of {len(items)} is {json_kind(item)}; "
                "items must be strings or JSON objects"
            )
    return records, blank


def record_hash(record: object) -> str:
    """The content hash two equal records share, whatever their key order."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def unseen(records: Iterable[Any], known: Iterable[Any]) -> list[Any]:
    """The records not in `known` (nor earlier in `records`), in their order."""
    seen = {record_hash(record) for record in known}
    fresh = []
    for record in records:
        digest = record_hash(record)
        if digest not in seen:
            seen.add(digest)
            fresh.append(record)
    return fresh


def stored_records(path: str | Path) -> list[Any]:
    """The records of a stored dataset file (rows that could not be read are left out)."""
    path = Path(path)
    decoded = decode_lines(path.read_bytes())
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        rows = csv_table(decoded).rows
    elif suffix == ".txt":
        rows = list(paragraph_rows(decoded))
    elif is_json_array(decoded):
        rows = list(json_array_rows(decoded))
    else:
        rows = list(jsonl_rows(decoded))
    return [row.value for row in rows if row.problem is None]
