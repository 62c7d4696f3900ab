"""One real App (SQLite in a temp dir, real workers, HTTP on a free port) for the HTTP tests.

The App is shared by the whole session: starting one costs seconds, and tests name
their own datasets, so they do not step on each other. Every module here therefore
runs in the session's event loop (`pytestmark = pytest.mark.asyncio(loop_scope="session")`).
"""

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.http.server import HttpServer
from tests.http.support import TOKEN, Api, http_settings


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    app = App(http_settings(tmp_path_factory.mktemp("http") / "data"))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture
def server(app: App) -> HttpServer:
    assert isinstance(app.http, HttpServer)
    return app.http


@pytest_asyncio.fixture(loop_scope="session")
async def api(app: App) -> AsyncIterator[Api]:
    assert app.http is not None
    async with aiohttp.ClientSession(base_url=app.http.url) as session:
        yield Api(session, TOKEN)
