"""Data sources against a local JSON endpoint: scheduled fetches, dedup, failures, secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from bot.app import App
from bot.core.errors import Conflict, NotFound
from bot.core.services import Services
from bot.core.sources.fetch import shown_url, stored_records
from bot.core.sources.selector import SelectError, select_items
from bot.logs import configure_logging
from bot.settings import Settings
from storage.store import Store
from tests.support.json_server import JsonServer

ROOM = "!news-room:test"
StartApp = Callable[..., Any]


def texts(*numbers: int) -> list[str]:
    return [f"headline number {n} about the cat on the mat" for n in numbers]


def answer(*numbers: int) -> dict[str, Any]:
    return {
        "data": {
            "items": [{"id": n, "text": t} for n, t in zip(numbers, texts(*numbers), strict=True)]
        }
    }


def settings(data_dir: Path, url: str, *, scheduler: bool = False, **source: Any) -> Settings:
    news = {
        "name": "news",
        "url": url,
        "select": "data.items[*].text",
        "dataset": "news",
        "every": "1h",
        "timeout_s": 5,
        **source,
    }
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "http": {"enabled": False},
            "matrix": {"enabled": False},
            "trainer": {"default_base": "micro", "min_examples": 3},
            "scheduler": {"enabled": scheduler},
            "sources": [news],
        }
    )


@pytest.fixture
async def server() -> AsyncIterator[JsonServer]:
    server = JsonServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start(app_factory: StartApp, server: JsonServer, tmp_path: Path) -> StartApp:
    async def start_app(**source: Any) -> Services:
        url = source.pop("url", server.url + "/news")
        app: App = await app_factory(settings(tmp_path / "data", url, **source))
        return app.services

    return start_app


async def contents(services: Services, name: str = "news") -> tuple[str, list[Any]]:
    latest = await services.store.datasets.latest(name)
    assert latest is not None
    return latest.label, stored_records(latest.path)


async def eventually(check: Callable[[], Any], within_s: float = 30) -> Any:
    deadline = time.monotonic() + within_s
    while not (found := await check()):
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)
    return found


# --- the selector -----------------------------------------------------------------------


ITEMS = {"data": {"items": [{"text": "a", "tags": []}, {"text": "b", "tags": ["x", "y"]}]}}


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        ("data.items[*].text", ["a", "b"]),
        ("data.items", ITEMS["data"]["items"]),
        ("data.items[*]", ITEMS["data"]["items"]),
        ("data.items[*].tags[*]", ["x", "y"]),
        (" data.items[*].text ", ["a", "b"]),
    ],
)
def test_select_paths(select: str, expected: Any) -> None:
    assert expected == select_items(ITEMS, select)


def test_select_over_a_top_level_list() -> None:
    assert [1, 2] == select_items([1, 2], "")
    assert ["x", "y"] == select_items([{"body": "x"}, {"body": "y"}], "[*].body")
    assert [3, 4] == select_items({"results": [{"f": {"t": 3}}, {"f": {"t": 4}}]}, "results[*].f.t")


@pytest.mark.parametrize(
    ("value", "select", "message"),
    [
        (
            {"data": {}},
            "data.items[*].text",
            "select data.items[*].text: key 'items' not found at data",
        ),
        ({"data": {"items": {}}}, "data.items", "expected a list at data.items, got an object"),
        (
            {"data": {"items": {}}},
            "data.items[*].text",
            "expected a list at data.items, got an object",
        ),
        (
            {"data": {"items": [{"text": 1}, {}]}},
            "data.items[*].text",
            "key 'text' not found at data.items[1]",
        ),
        ({"data": "x"}, "data.items", "expected an object with key 'items' at data, got a string"),
        ({"items": []}, "", "the answer is an object, not a list of items"),
        ([], "a..b", "cannot read ''"),
        ([], "a.[*]", "write key[*], not key.[*]"),
        ([], "a[0]", "cannot read 'a[0]'"),
    ],
)
def test_select_errors_say_where(value: Any, select: str, message: str) -> None:
    with pytest.raises(SelectError) as caught:
        select_items(value, select)
    assert message in str(caught.value)


# --- fetching ---------------------------------------------------------------------------


async def test_the_schedule_fetches_items_into_a_version_and_the_same_items_add_none(
    start: StartApp, server: JsonServer
) -> None:
    server.answer(answer(1, 2, 3, 4))
    services = await start(every="0.3s", scheduler=True)

    async def two_fetches() -> bool:
        return len(await services.store.source_fetches.recent("news", 5)) >= 2

    await eventually(two_fetches)
    assert ("news@v1", [{"text": t} for t in texts(1, 2, 3, 4)]) == await contents(services)
    second, first = await services.store.source_fetches.recent("news", 2)
    assert (True, 4, 4, "news@v1") == (first.ok, first.items, first.new_items, first.dataset_label)
    assert (True, 4, 0, None) == (second.ok, second.items, second.new_items, second.dataset_label)
    assert "schedule" == first.trigger
    latest = await services.store.datasets.latest("news")
    assert latest is not None and "source:news" == latest.created_by
    assert 1 == len(await services.datasets.versions("news"))


async def test_new_items_add_a_version_holding_old_and_new(
    start: StartApp, server: JsonServer
) -> None:
    services = await start()
    server.answer(answer(1, 2, 3))
    await services.sources.fetch("news", trigger="@ann:test")
    server.answer(answer(2, 3, 4, 5))
    fetched = await services.sources.fetch("news", trigger="@ann:test")
    assert (4, 2, "news@v2", "@ann:test") == (
        fetched.items,
        fetched.new_items,
        fetched.dataset_label,
        fetched.trigger,
    )
    assert "ok: 4 items, 2 new → news@v2" == fetched.outcome
    expected = [{"text": t} for t in texts(1, 2, 3, 4, 5)]
    assert ("news@v2", expected) == await contents(services)


@pytest.mark.parametrize(
    ("filename", "data", "expected_before"),
    [
        ("old.csv", ("text\n" + "\n".join(texts(1, 2, 3)) + "\n").encode(), "csv"),
        ("old.txt", "\n\n".join(texts(1, 2, 3)).encode(), "text"),
        ("old.json", json.dumps([{"text": t} for t in texts(1, 2, 3)]).encode(), "text"),
    ],
)
async def test_a_version_uploaded_as_a_file_is_extended_with_its_records(
    start: StartApp, server: JsonServer, filename: str, data: bytes, expected_before: str
) -> None:
    services = await start()
    old = (await services.datasets.upload_file("news", filename, data)).dataset
    server.answer(answer(3, 4))
    fetched = await services.sources.fetch("news", trigger="t")
    assert (2, 1, "news@v2") == (fetched.items, fetched.new_items, fetched.dataset_label)
    assert ("news@v2", [{"text": t} for t in texts(1, 2, 3, 4)]) == await contents(services)
    latest = await services.store.datasets.latest("news")
    assert latest is not None and 4 == latest.examples
    assert ("text", old.format) == (latest.format, expected_before)


async def test_blank_strings_are_skipped_and_repeats_within_a_fetch_kept_once(
    start: StartApp, server: JsonServer
) -> None:
    services = await start(select="")
    server.answer([*texts(1, 2), "  \n", *texts(2, 3)])
    fetched = await services.sources.fetch("news", trigger="t")
    assert (5, 3, 1) == (fetched.items, fetched.new_items, fetched.skipped)
    assert ("news@v1", [{"text": t} for t in texts(1, 2, 3)]) == await contents(services)


async def test_objects_are_records_as_they_are(start: StartApp, server: JsonServer) -> None:
    services = await start(select="pairs")
    pairs = [{"prompt": f"Q{n}", "completion": f"A{n}"} for n in range(4)]
    server.answer({"pairs": pairs})
    await services.sources.fetch("news", trigger="t")
    label, stored = await contents(services)
    latest = await services.store.datasets.latest("news")
    assert latest is not None and ("news@v1", "completion") == (label, latest.format)
    # Key order does not make a record new.
    server.answer({"pairs": [{"completion": "A0", "prompt": "Q0"}, *pairs[1:]]})
    assert 0 == (await services.sources.fetch("news", trigger="t")).new_items
    assert pairs == stored


async def test_a_post_source_sends_its_body_and_headers(
    start: StartApp, server: JsonServer
) -> None:
    services = await start(method="POST", body='{"query": "cats"}', headers={"X-Plain": "yes"})
    server.answer(answer(1, 2, 3))
    assert (await services.sources.fetch("news", trigger="t")).ok
    seen = server.requests[-1]
    assert ("POST", b'{"query": "cats"}') == (seen.method, seen.body)
    assert ("yes", "application/json") == (seen.headers["X-Plain"], seen.headers["Content-Type"])


# --- failures: recorded, reported, nothing written ------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"<html>not json</html>", 200, "/news is not JSON (Expecting value at line 1 column 1)"),
        (
            json.dumps({"data": {}}).encode(),
            200,
            "select data.items[*].text: key 'items' not found at data",
        ),
        (b'{"error": "down"}', 500, "/news answered HTTP 500 Internal Server Error"),
        (
            json.dumps({"data": {"items": [{"text": "a"}, {"text": 7}]}}).encode(),
            200,
            "item 2 of 2 is a number; items must be strings or JSON objects",
        ),
    ],
)
async def test_a_bad_answer_adds_no_version_and_the_room_hears_why(
    start: StartApp, server: JsonServer, raw: bytes, status: int, message: str
) -> None:
    services = await start()
    server.answer({"data": {"items": [{"text": "first"}]}})
    await services.datasets.upload_records(
        "news", [{"text": t} for t in texts(1, 2, 3)], room_id=ROOM
    )
    server.answer_raw(raw, status)
    fetched = await services.sources.fetch("news", trigger="schedule")
    assert not fetched.ok and fetched.error is not None and message in fetched.error
    assert (None, 0) == (fetched.dataset_label, fetched.new_items)
    assert ["news@v1"] == [d.label for d in await services.datasets.versions("news")]
    [notice] = await services.notifications.pending()
    assert (ROOM, "source:news") == (notice.room_id, notice.source)
    assert notice.text.startswith(
        "⚠️ Source news: the fetch failed and no new version of news was written.\n"
    )
    assert message in notice.text
    assert fetched == (await services.store.source_fetches.recent("news", 1))[0]


async def test_items_the_dataset_refuses_add_no_version(
    start: StartApp, server: JsonServer
) -> None:
    services = await start(select="data.items", room_id="!ops:test")
    server.answer({"data": {"items": [{"text": "one"}, {"text": "two"}]}})
    too_few = await services.sources.fetch("news", trigger="t")
    assert too_few.error is not None and too_few.error.startswith(
        "the dataset refused the new items: news (text): 2 rows, 2 valid examples"
    )
    server.answer({"data": {"items": [{"text": t} for t in texts(1, 2, 3)]}})
    assert (await services.sources.fetch("news", trigger="t")).ok
    server.answer({"data": {"items": [{"title": "no text field"}]}})
    wrong_shape = await services.sources.fetch("news", trigger="t")
    assert wrong_shape.error is not None and wrong_shape.error.endswith(
        "refused\nErrors:\n  line 4: missing field 'text'"
    )
    assert ["news@v1"] == [d.label for d in await services.datasets.versions("news")]
    told = [n.text.splitlines()[0] for n in await services.notifications.pending()]
    assert ["failed", "works again", "failed"] == [
        "failed" if "failed" in t else "works again" if "works again" in t else t for t in told
    ]


async def test_a_timeout_and_a_closed_port_fail_into_the_sources_own_room(
    start: StartApp, server: JsonServer
) -> None:
    services = await start(timeout_s=0.2, room_id="!ops:test")
    server.hold()
    slow = await services.sources.fetch("news", trigger="t")
    server.release()
    assert slow.error is not None and slow.error.endswith("/news did not answer within 0.2 s")
    await server.stop()
    refused = await services.sources.fetch("news", trigger="t")
    assert refused.error is not None and refused.error.startswith("cannot fetch http://127.0.0.1:")
    assert None is await services.store.datasets.latest("news")
    notices = await services.notifications.pending()
    assert [("!ops:test", slow.error), ("!ops:test", refused.error)] == [
        (n.room_id, n.text.splitlines()[1]) for n in notices
    ]


async def test_a_repeated_failure_is_told_once_and_the_recovery_too(
    start: StartApp, server: JsonServer
) -> None:
    services = await start(room_id=ROOM)
    server.answer_raw(b"{}", 502)
    for _ in range(3):
        assert not (await services.sources.fetch("news", trigger="schedule")).ok
    server.answer_raw(b"{}", 504)
    assert not (await services.sources.fetch("news", trigger="schedule")).ok
    server.answer(answer(1, 2, 3))
    assert (await services.sources.fetch("news", trigger="schedule")).ok
    assert (await services.sources.fetch("news", trigger="schedule")).ok
    told = [n.text.splitlines()[-1] for n in await services.notifications.pending()]
    assert [
        f"{server.url}/news answered HTTP 502 Bad Gateway",
        f"{server.url}/news answered HTTP 504 Gateway Timeout",
        "✅ Source news works again: ok: 3 items, 3 new → news@v1.",
    ] == told
    assert 6 == len(await services.store.source_fetches.recent("news", 10))


async def test_a_failure_without_any_room_is_recorded_only(
    start: StartApp, server: JsonServer
) -> None:
    services = await start()
    server.answer_raw(b"nope")
    assert not (await services.sources.fetch("news", trigger="t")).ok
    assert [] == await services.notifications.pending()
    [status] = await services.sources.status()
    assert status.fetches[0].outcome.startswith("failed: the answer of http://")


# --- secrets, concurrency, names, scheduling ------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    # No secrets handed to the logger: a secret in any line would show up unredacted.
    out = io.StringIO()
    configure_logging("DEBUG", "json", secrets=(), stream=out)
    yield out
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_a_secret_header_reaches_the_server_and_no_log_or_message(
    start: StartApp,
    server: JsonServer,
    log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "Bearer s3cret-news-token-123"
    monkeypatch.setenv("NEWS_TOKEN", secret)
    services = await start(
        secret_headers={"Authorization": "env:NEWS_TOKEN"},
        url=server.url + "/news?api_key=query-key-456",
    )
    server.answer(answer(1, 2, 3))
    assert (await services.sources.fetch("news", trigger="t")).ok
    server.answer_raw(b"{}", 503)
    failed = await services.sources.fetch("news", trigger="t")
    assert secret == server.requests[-1].headers["Authorization"]
    assert "/news?api_key=query-key-456" == server.requests[-1].path
    logged = log_output.getvalue()
    assert "source fetch failed" in logged and "source fetched" in logged
    for shown in (logged, failed.error, (await services.notifications.pending()).__repr__()):
        assert shown is not None and "s3cret" not in shown and "query-key-456" not in shown


async def test_a_fetch_already_running_is_not_started_twice(
    start: StartApp, server: JsonServer
) -> None:
    services = await start()
    server.answer(answer(1, 2, 3))
    server.hold()
    first = asyncio.create_task(services.sources.fetch("news", trigger="t"))
    await server.wait_for_request()
    assert (await services.sources.status())[0].running
    with pytest.raises(Conflict, match="source news is being fetched right now"):
        await services.sources.fetch("news", trigger="t")
    server.release()
    assert (await first).ok
    assert 1 == len(server.requests)
    assert (await services.sources.fetch("news", trigger="t")).ok  # free again


async def test_an_unknown_source_names_the_known_ones(start: StartApp) -> None:
    services = await start()
    with pytest.raises(NotFound, match=r"no source 'weather' \(known: news\)"):
        await services.sources.fetch("weather", trigger="t")


async def test_an_interval_source_runs_one_interval_after_its_last_fetch_even_after_a_restart(
    app_factory: StartApp, server: JsonServer, tmp_path: Path
) -> None:
    server.answer(answer(1, 2, 3))
    config = settings(tmp_path / "data", server.url + "/news", scheduler=True, every="1h")
    app: App = await app_factory(config)
    services = app.services

    async def fetched() -> Any:
        return await services.store.source_fetches.recent("news", 1)

    [first] = await eventually(fetched)  # never fetched before: at once
    [status] = await services.sources.status()
    assert status.next_run is not None and "every 1h" == status.schedule
    assert abs(status.next_run.timestamp() - (first.started_at + 3600)) < 60
    await app.stop()

    again: App = await app_factory(config)
    [status] = await again.services.sources.status()
    assert status.next_run is not None
    assert abs(status.next_run.timestamp() - (first.started_at + 3600)) < 1
    assert [first] == status.fetches  # and no second fetch at start


async def test_a_cron_source_runs_at_its_times(app_factory: StartApp, tmp_path: Path) -> None:
    config = settings(
        tmp_path / "data", "http://127.0.0.1:9/x", scheduler=True, every=None, cron="30 4 * * *"
    )
    app: App = await app_factory(config)
    [status] = await app.services.sources.status()
    assert "cron 30 4 * * *" == status.schedule and [] == status.fetches
    assert status.next_run is not None and (4, 30) == (status.next_run.hour, status.next_run.minute)


async def test_without_the_scheduler_there_is_no_next_run(start: StartApp) -> None:
    services = await start()
    [status] = await services.sources.status()
    assert (None, False) == (status.next_run, status.running)


async def test_stopping_cancels_a_running_fetch_which_writes_nothing(
    app_factory: StartApp, server: JsonServer, tmp_path: Path
) -> None:
    app: App = await app_factory(settings(tmp_path / "data", server.url + "/news"))
    server.answer(answer(1, 2, 3))
    server.hold()
    running = asyncio.create_task(app.services.sources.fetch("news", trigger="t"))
    await server.wait_for_request()
    await app.stop()
    with pytest.raises(asyncio.CancelledError):
        await running
    server.release()
    store = await Store.open(tmp_path / "data")
    try:
        assert ([], None) == (
            await store.source_fetches.recent("news"),
            await store.datasets.latest("news"),
        )
    finally:
        await store.close()


# --- URLs shown without secrets, fixed failure messages, redirects ---------------------

PROBE = "[Re-verify your account](https://evil.example/login) **now** @ROOM"


@pytest.fixture
async def other_origin() -> AsyncIterator[JsonServer]:
    server = JsonServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def redirector() -> AsyncIterator[Redirector]:
    redirector = Redirector()
    await redirector.start()
    yield redirector
    await redirector.stop()


class Redirector:
    """An endpoint answering `/go` with a redirect to `target` (and `/same` to its `/end`)."""

    def __init__(self) -> None:
        self.target = ""
        self.reason = ""
        self.seen: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/go", self._go)
        app.router.add_get("/same", self._same)
        app.router.add_get("/end", self._end)
        app.router.add_get("/reason", self._reason)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _go(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        raise web.HTTPFound(self.target)

    async def _same(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        raise web.HTTPMovedPermanently("/end?page=2")

    async def _end(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.json_response(answer(1, 2, 3))

    async def _reason(self, request: web.Request) -> web.Response:
        return web.Response(status=503, reason=PROBE, text=PROBE)


async def test_credentials_and_query_are_never_shown(
    start: StartApp, server: JsonServer, log_output: io.StringIO
) -> None:
    host = server.url.removeprefix("http://")
    services = await start(url=f"http://reader:pa55word@{host}/news?key=q-secret#frag")
    server.answer(answer(1, 2, 3))
    assert (await services.sources.fetch("news", trigger="t")).ok
    assert "Basic cmVhZGVyOnBhNTV3b3Jk" == server.requests[-1].headers["Authorization"]
    server.answer_raw(b"{}", 500)
    failed = await services.sources.fetch("news", trigger="t")
    assert f"{server.url}/news answered HTTP 500 Internal Server Error" == failed.error
    [status] = await services.sources.status()
    assert f"{server.url}/news" == shown_url(status.settings.url)
    shown = (log_output.getvalue(), failed.error, repr(await services.sources.status()))
    for text in shown[:2]:
        assert "pa55word" not in text and "reader" not in text and "q-secret" not in text


async def test_credentials_next_to_an_authorization_header_fail_the_fetch_in_words(
    start: StartApp, server: JsonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWS_TOKEN", "Bearer t0ken")
    host = server.url.removeprefix("http://")
    services = await start(
        url=f"http://reader:pa55word@{host}/news",
        secret_headers={"Authorization": "env:NEWS_TOKEN"},
    )
    failed = await services.sources.fetch("news", trigger="t")
    assert (
        f"{server.url}/news: the URL carries a user and password and an Authorization header "
        "is set too; keep one of them"
    ) == failed.error
    assert [] == server.requests


async def test_a_redirect_to_another_origin_is_not_followed_with_the_secrets(
    start: StartApp,
    redirector: Redirector,
    other_origin: JsonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWS_TOKEN", "s3cret")
    redirector.target = other_origin.url + "/stolen?x=1"
    secrets = {"X-Api-Key": "env:NEWS_TOKEN"}
    services = await start(url=redirector.url + "/go", secret_headers=secrets)
    failed = await services.sources.fetch("news", trigger="t")
    assert (
        f"{redirector.url}/go redirected to another origin ({other_origin.url}/stolen); "
        "redirects are followed within the same scheme, host and port only, so the secret "
        "headers stay with their host: set the new URL if it is right"
    ) == failed.error
    assert [] == other_origin.requests  # nothing went there, the key least of all


async def test_a_redirect_within_the_origin_is_followed_unless_never(
    start: StartApp, redirector: Redirector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWS_TOKEN", "s3cret")
    secrets = {"X-Api-Key": "env:NEWS_TOKEN"}
    services = await start(url=redirector.url + "/same", secret_headers=secrets)
    assert (await services.sources.fetch("news", trigger="t")).ok
    assert ["s3cret", "s3cret"] == [headers["X-Api-Key"] for headers in redirector.seen]

    never = settings(
        tmp_path / "never", redirector.url + "/same", follow_redirects="never", name="strict"
    )
    app = App(never)
    await app.start()
    try:
        failed = await app.services.sources.fetch("strict", trigger="t")
    finally:
        await app.stop()
    assert failed.error is not None and failed.error.startswith(
        f"{redirector.url}/same answered with a redirect, and this source follows none"
    )


async def test_a_servers_own_words_never_reach_the_error(
    start: StartApp, redirector: Redirector
) -> None:
    services = await start(url=redirector.url + "/reason", room_id=ROOM)
    failed = await services.sources.fetch("news", trigger="t")
    assert f"{redirector.url}/reason answered HTTP 503 Service Unavailable" == failed.error
    [notice] = await services.notifications.pending()
    assert "evil.example" not in notice.text


def test_check_config_prints_source_urls_without_their_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[[sources]]\nname = 'news'\ndataset = 'news'\nevery = '1h'\n"
        "url = 'https://reader:pa55word@news.example:8443/api/items?key=q-secret#top'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    [source] = json.loads(result.stdout)["sources"]
    assert "https://news.example:8443/api/items" == source["url"]
    assert "pa55word" not in result.stdout and "q-secret" not in result.stdout
