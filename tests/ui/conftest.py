"""One App and one headless Chromium for the dashboard tests (session scope: each costs seconds).

Every module here runs in the session's event loop, as the HTTP tests do. Without a
browser the browser tests are skipped with the reason; the serving tests still run.
"""

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from bot.app import App
from tests.http.support import http_settings
from tests.ui.support import ADMIN, CHROMIUM, FLAGS, READER, TRAINER, chromium_missing

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    tokens = [
        {"token": ADMIN, "name": "ops", "scopes": ["admin"]},
        {"token": TRAINER, "name": "ci", "scopes": ["train"]},
        {"token": READER, "name": "viewer", "scopes": ["read"]},
    ]
    data = tmp_path_factory.mktemp("ui") / "data"
    app = App(http_settings(data, tokens=tokens, max_body_mb=5))
    await app.start()
    yield app
    await app.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator["Browser"]:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: "Browser", ui_app: App) -> AsyncIterator["Page"]:
    assert ui_app.http is not None
    context = await browser.new_context(base_url=ui_app.http.url)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # Blocked by the Content-Security-Policy: something inline or foreign slipped in.
    opened.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield opened
    await context.close()
    assert [] == errors  # no uncaught script error or CSP refusal on any page visited
