"""How the dashboard is served: public pages with a self-only CSP, gzipped, and nothing more.

The pages hold no data, so they need no token; what they show comes from the API with
the person's token. `http.ui = false` removes them.
"""

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.http.server import build_app
from tests.ui.support import ADMIN, READER

pytestmark = pytest.mark.asyncio(loop_scope="session")
STATIC = Path(__file__).parents[2] / "bot" / "http" / "ui" / "static"


@pytest_asyncio.fixture(loop_scope="session")
async def client(ui_app: App) -> AsyncIterator[aiohttp.ClientSession]:
    assert ui_app.http is not None
    async with aiohttp.ClientSession(base_url=ui_app.http.url) as session:
        yield session


async def test_the_root_sends_people_to_the_dashboard(client: aiohttp.ClientSession) -> None:
    for path in ("/", "/ui/"):
        async with client.get(path, allow_redirects=False) as r:
            assert (302, "/ui") == (r.status, r.headers["Location"])


async def test_the_page_forbids_every_other_origin_and_inline_script(
    client: aiohttp.ClientSession,
) -> None:
    async with client.get("/ui") as r:
        page = await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert 200 == r.status
        assert "text/html; charset=utf-8" == r.headers["Content-Type"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in page and "style=" not in page  # nothing inline for the CSP to block
    assert "nosniff" == r.headers["X-Content-Type-Options"]


async def test_files_are_served_gzipped_and_revalidated_without_a_body(
    client: aiohttp.ClientSession,
) -> None:
    raw = (STATIC / "uPlot.iife.min.js").read_bytes()
    async with client.get(
        "/ui/static/uPlot.iife.min.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    ) as r:
        body = await r.read()
        etag = r.headers["ETag"]
        assert ("gzip", "text/javascript; charset=utf-8") == (
            r.headers["Content-Encoding"],
            r.headers["Content-Type"],
        )
    assert raw == gzip.decompress(body)
    assert len(body) < len(raw) / 2
    async with client.get("/ui/static/uPlot.iife.min.js", headers={"If-None-Match": etag}) as r:
        assert (304, b"") == (r.status, await r.read())


async def test_the_charting_library_ships_with_its_licence(client: aiohttp.ClientSession) -> None:
    async with client.get("/ui/static/uPlot.LICENSE") as r:
        assert "The MIT License" in await r.text()


async def test_an_unknown_file_is_a_json_404(client: aiohttp.ClientSession) -> None:
    async with client.get("/ui/static/../../settings.py") as r:
        assert 404 == r.status
    async with client.get("/ui/static/nope.js") as r:
        assert (404, "not_found") == (r.status, (await r.json())["error"]["code"])


async def test_who_am_i_needs_a_token_and_lists_what_it_may_do(
    client: aiohttp.ClientSession,
) -> None:
    async with client.get("/ui/api/me") as r:
        assert 401 == r.status
    async with client.get("/ui/api/me", headers={"Authorization": f"Bearer {READER}"}) as r:
        reader = await r.json()
    async with client.get("/ui/api/me", headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        admin = await r.json()
    assert ("api:viewer", ["read"]) == (reader["client"], reader["scopes"])
    assert all(op.startswith("GET ") for op in reader["allowed"])
    assert "GET /v1/jobs" in reader["allowed"]
    assert {"POST /v1/jobs/{id}/pause", "DELETE /v1/models/{id}"} <= set(admin["allowed"])


async def test_with_ui_off_there_is_no_dashboard(ui_app: App) -> None:
    http = ui_app.settings.http.model_copy(update={"ui": False})
    web_app = build_app(ui_app.services, ui_app.settings.model_copy(update={"http": http}))
    async with TestClient(TestServer(web_app)) as off:
        assert 404 == (await off.get("/ui")).status
        assert 404 == (await off.get("/", allow_redirects=False)).status
