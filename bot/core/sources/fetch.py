"""One fetch of a data source: download the JSON answer, pick the items, drop known ones.

Everything that can go wrong raises `FetchFailed` with a message for people; the
sources service records it and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

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
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
# Most specific first: the first class an error is an instance of picks its sentence.
NETWORK_FAILURES: tuple[tuple[type[aiohttp.ClientError], str], ...] = (
    (aiohttp.ClientConnectorCertificateError, "its TLS certificate was not accepted"),
    (aiohttp.ClientConnectorDNSError, "the host name could not be resolved"),
    (aiohttp.ClientConnectorError, "the connection was refused or could not be made"),
    (aiohttp.ServerDisconnectedError, "the server closed the connection"),
    (aiohttp.ClientPayloadError, "the answer was cut off"),
    (aiohttp.InvalidURL, "the URL is not valid"),
    (aiohttp.ClientResponseError, "the answer was not valid HTTP"),
)


class FetchFailed(Exception):
    """A fetch that adds nothing; the message says why, for people."""


def shown_url(url: str) -> str:
    """The URL without credentials, query string and fragment (any may hold a key), for
    messages, logs and answers."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port that is no number: say nothing more than the scheme
        return f"{parts.scheme}://…"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def origin(url: str | URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) — what must match for a redirect to keep the secret headers."""
    parsed = URL(str(url))
    return (parsed.scheme.lower(), (parsed.host or "").lower(), parsed.port)


async def download(session: aiohttp.ClientSession, source: SourceSettings) -> object:
    """The parsed JSON answer of the source's endpoint."""
    url = shown_url(source.url)
    target, basic = _without_credentials(source)
    headers = _request_headers(source)
    if basic is not None:
        if any(key.lower() == "authorization" for key in headers):
            raise FetchFailed(
                f"{url}: the URL carries a user and password and an Authorization header is "
                "set too; keep one of them"
            )
        headers["Authorization"] = basic
    try:
        data = await _follow(session, source, target, headers)
    except TimeoutError:
        raise FetchFailed(f"{url} did not answer within {source.timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        # A fixed sentence per kind of failure: the exception's own text names the URL.
        raise FetchFailed(f"cannot fetch {url}: {_network_failure(exc)}") from None
    except ValueError:  # aiohttp refusing to build the request (e.g. a bad header value)
        raise FetchFailed(f"cannot fetch {url}: the request could not be built") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise FetchFailed(f"the answer of {url} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FetchFailed(
            f"the answer of {url} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def _request_headers(source: SourceSettings) -> dict[str, str]:
    headers = dict(source.headers)
    # Secret values go on the wire and nowhere else (never into a message or a log).
    headers.update({key: value.get_secret_value() for key, value in source.secret_headers.items()})
    if source.body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    return headers


def _without_credentials(source: SourceSettings) -> tuple[URL, str | None]:
    """The URL to request and, when it carried `user:password@`, those as a basic
    Authorization value (a secret header from then on, kept from other origins)."""
    try:
        parsed = URL(source.url)
    except ValueError:
        raise FetchFailed(f"{shown_url(source.url)}: the URL is not valid") from None
    if parsed.user is None and parsed.password is None:
        return parsed, None
    basic = aiohttp.encode_basic_auth(parsed.user or "", parsed.password or "")
    return parsed.with_user(None), basic


async def _follow(
    session: aiohttp.ClientSession,
    source: SourceSettings,
    target: URL,
    headers: dict[str, str],
) -> bytes:
    """The answer's bytes, following redirects by hand: only within the source's origin
    (`follow_redirects = "same-origin"`) or none (`"never"`), so the secret headers and
    credentials never travel to another host."""
    method, body = source.method, source.body
    timeout = aiohttp.ClientTimeout(total=source.timeout_s)
    for _ in range(MAX_REDIRECTS + 1):
        async with session.request(
            method,
            target,
            headers=headers,
            data=body,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            location = response.headers.get("Location")
            if response.status in REDIRECTS and location:
                target = _redirect_target(source, target, location)
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(f"{shown_url(source.url)} answered HTTP {_status(response)}")
            return await _read_capped(response, shown_url(source.url))
    raise FetchFailed(f"{shown_url(source.url)} redirected more than {MAX_REDIRECTS} times")


def _redirect_target(source: SourceSettings, current: URL, location: str) -> URL:
    url = shown_url(source.url)
    try:
        target = current.join(URL(location))
    except ValueError:
        raise FetchFailed(f"{url} redirected to an address that is not valid") from None
    if source.follow_redirects == "never":
        raise FetchFailed(
            f"{url} answered with a redirect, and this source follows none "
            '(follow_redirects = "never"): set the URL it redirects to'
        )
    if origin(target) != origin(current):
        raise FetchFailed(
            f"{url} redirected to another origin ({shown_url(str(target))}); redirects are "
            "followed within the same scheme, host and port only, so the secret headers stay "
            "with their host: set the new URL if it is right"
        )
    return target


def _status(response: aiohttp.ClientResponse) -> str:
    """`502 Bad Gateway`: the standard phrase, never the reason text the server sent."""
    try:
        return f"{response.status} {HTTPStatus(response.status).phrase}"
    except ValueError:
        return str(response.status)


def _network_failure(exc: aiohttp.ClientError) -> str:
    """One of a few fixed sentences for a network failure (never the exception's text)."""
    for kind, sentence in NETWORK_FAILURES:
        if isinstance(exc, kind):
            return sentence
    return f"a network error ({type(exc).__name__})"


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
