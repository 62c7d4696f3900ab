"""Malformed requests get a 4xx and leave no traceback: the issue's probes, sent raw."""

import asyncio
import io
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import structlog

from bot.app import App
from bot.http.server import HttpServer
from bot.logs import configure_logging
from tests.http.support import TOKEN, Api, held_job, until

pytestmark = pytest.mark.asyncio(loop_scope="session")
NON_ASCII = b"\xc3\xa9\xff\xfe"
EVENTS = "/v1/jobs/{id}/events"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def raw(server: HttpServer, request: bytes, *, leave: bool = False) -> bytes:
    """Send bytes as they are; read the whole answer (or leave at once when asked)."""
    address = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(request)
    await writer.drain()
    answer = b"" if leave else await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def no_traceback(log: io.StringIO) -> None:
    text = log.getvalue()
    assert "Traceback" not in text and "unhandled error" not in text, text


async def test_non_ascii_credentials_are_401_without_a_traceback(
    server: HttpServer, log_lines: io.StringIO
) -> None:
    probes = [
        b"GET /v1/status HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
        b"Authorization: Bearer " + NON_ASCII,
        b"POST /v1/hooks/note HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
        b"X-Trainbot-Token: " + NON_ASCII,
        b"POST /v1/hooks/signed-note HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
        b"X-Trainbot-Signature: sha256=" + NON_ASCII,
    ]
    answers = await asyncio.gather(
        *(raw(server, probe + b"\r\nConnection: close\r\n\r\n{}") for probe in probes)
    )
    assert [401, 401, 401] == [status_of(a) for a in answers]
    assert all(b"must be plain ASCII" in a for a in answers), answers
    health = b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + NON_ASCII
    assert 200 == status_of(await raw(server, health + b"\r\nConnection: close\r\n\r\n"))
    no_traceback(log_lines)


async def test_a_request_aiohttp_cannot_parse_is_400_and_one_log_line(
    server: HttpServer, log_lines: io.StringIO
) -> None:
    answer = await raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n{}")
    assert 400 == status_of(answer)
    no_traceback(log_lines)
    assert "malformed HTTP request" in log_lines.getvalue()


async def test_a_deeply_nested_toml_body_is_422(api: Api, log_lines: io.StringIO) -> None:
    nested = b"name = 'deep'\ntemplate = " + b"[" * 20_000 + b"]" * 20_000
    headers = {"Content-Type": "application/toml"}
    reply = await api.post("/v1/datasets/generate", data=nested, headers=headers)
    assert (422, "the body is not valid TOML: it is nested too deeply") == (
        reply.status,
        reply.error["message"],
    )
    no_traceback(log_lines)


async def test_event_stream_clients_that_leave_before_the_headers_leave_no_trace(
    app: App, server: HttpServer, log_lines: io.StringIO
) -> None:
    job = await held_job(app, "api:leaver")
    subscribers = app.services.bus.subscriber_count
    answered = _answered(server, EVENTS)
    request = (
        f"GET /v1/jobs/{job.id}/events HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    await asyncio.gather(*(raw(server, request, leave=True) for _ in range(20)))
    await until(lambda: _answered(server, EVENTS) == answered + 20)
    assert {} == dict(server.state.stream_slots.open)
    await until(lambda: app.services.bus.subscriber_count == subscribers)
    no_traceback(log_lines)
    await app.services.store.jobs.delete(job.id)


def _answered(server: HttpServer, route: str) -> float:
    """Requests to a route the server has finished with (any status)."""
    samples = server.state.metrics.requests.collect()[0].samples
    return sum(s.value for s in samples if s.name.endswith("_total") and s.labels["route"] == route)
