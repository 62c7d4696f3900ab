"""Caps on event streams and connections: refused with Retry-After, /healthz still answers.

A small App of its own (caps of a few), so the caps are reached with real clients.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.http.limits import HEALTH_OVERFLOW, Caps
from bot.http.server import HttpServer
from bot.http.state import Caller
from bot.settings import HttpSettings, TokenSettings
from tests.http.support import TOKEN, held_job, http_settings, until

session_loop = pytest.mark.asyncio(loop_scope="session")
OTHER = "other-token-9876543210"
CONNECTIONS, STREAMS, PER_TOKEN = 6, 3, 2


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    settings = http_settings(
        tmp_path_factory.mktemp("limits") / "data",
        tokens=[TOKEN, {"token": OTHER, "name": "other"}],
        max_connections=CONNECTIONS,
        max_streams=STREAMS,
        max_streams_per_token=PER_TOKEN,
    )
    app = App(settings)
    await app.start()
    yield app
    await app.stop()


def http(app: App) -> HttpServer:
    assert isinstance(app.http, HttpServer)
    return app.http


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@session_loop
async def test_streams_are_capped_per_token_and_in_all_and_health_still_answers(
    small: App,
) -> None:
    job = await held_job(small, "api:someone")
    path = f"/v1/jobs/{job.id}/events"
    sse = {"Accept": "text/event-stream"}
    async with contextlib.AsyncExitStack() as held, aiohttp.ClientSession(http(small).url) as s:

        async def open_stream(token: str) -> aiohttp.ClientResponse:
            response = await s.get(path, headers=auth(token, **sse))
            if response.status == 200:
                held.callback(response.close)  # held open until the end
            else:
                await response.read()
            return response

        mine = await asyncio.gather(*(open_stream(TOKEN) for _ in range(PER_TOKEN + 3)))
        assert [200] * PER_TOKEN + [429] * 3 == sorted(r.status for r in mine)
        refused = next(r for r in mine if r.status == 429)
        assert "5" == refused.headers["Retry-After"]

        others = await asyncio.gather(*(open_stream(OTHER) for _ in range(PER_TOKEN)))
        assert [200, 503] == sorted(r.status for r in others)
        full = next(r for r in others if r.status == 503)
        assert "5" == full.headers["Retry-After"]

        async with s.get("/healthz") as health:
            assert 200 == health.status
        assert {"api:other": 1, _client(small): PER_TOKEN} == dict(
            http(small).state.stream_slots.open
        )
    # Streams that end give their slots back.
    await until(lambda: not http(small).state.stream_slots.open)
    await small.services.store.jobs.delete(job.id)


def _client(app: App) -> str:
    return Caller.of(TokenSettings.model_validate({"token": TOKEN})).id


@session_loop
async def test_connections_past_the_cap_are_refused_but_health_still_answers(
    small: App,
) -> None:
    server = http(small)
    gate = server.state.gate
    assert gate is not None
    address = urlsplit(server.url)
    idle: list[asyncio.StreamWriter] = []

    async def connect() -> asyncio.StreamWriter:
        _, writer = await asyncio.open_connection(address.hostname, address.port)
        idle.append(writer)
        return writer

    try:
        await until(lambda: not gate.server.connections)
        for _ in range(CONNECTIONS):
            await connect()
        await until(lambda: CONNECTIONS == len(gate.server.connections))

        async with aiohttp.ClientSession(server.url) as s:
            async with s.get("/v1/status", headers=auth(TOKEN)) as busy:
                assert (503, "5") == (busy.status, busy.headers["Retry-After"])
                assert "too many open connections" in (await busy.json())["error"]["message"]
            async with s.get("/healthz") as health:
                assert 200 == health.status

            for _ in range(HEALTH_OVERFLOW):
                await connect()
            await until(lambda: CONNECTIONS + HEALTH_OVERFLOW == len(gate.server.connections))
            async with s.get("/v1/status", headers=auth(TOKEN)) as refused:
                assert (503, "5") == (refused.status, refused.headers["Retry-After"])
                assert "busy" == (await refused.json())["error"]["code"]
            async with s.get("/healthz") as health:
                assert (200, {"status": "ok"}) == (health.status, await health.json())
    finally:
        for writer in idle:
            writer.close()
    await until(lambda: not gate.server.connections)
    async with (
        aiohttp.ClientSession(server.url) as s,
        s.get("/v1/status", headers=auth(TOKEN)) as ok,
    ):
        assert 200 == ok.status


def test_the_caps_are_lowered_to_fit_the_open_file_limit() -> None:
    http = HttpSettings(max_connections=5000, max_streams=4000, max_streams_per_token=50)
    assert Caps(5000, 4000, 50) == Caps.fitted(http, nofile=65536)
    lowered = Caps.fitted(http, nofile=1024)
    assert lowered.connections < 1024 - HEALTH_OVERFLOW
    assert (lowered.connections, 50) == (lowered.streams, lowered.streams_per_client)


def test_the_open_file_limit_is_raised_toward_the_hard_limit() -> None:
    import resource

    from bot.http.limits import raise_open_file_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        raised = raise_open_file_limit()
        assert (raised, hard) == resource.getrlimit(resource.RLIMIT_NOFILE)
        assert raised == min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
