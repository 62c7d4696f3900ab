"""One App and one headless Chromium for the dashboard tests (session scope: each costs seconds).

Every module here runs in the session's event loop, as the HTTP tests do.
"""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.app import App
from tests.http.support import http_settings
from tests.ui.support import ADMIN, CHROMIUM, FLAGS, READER, SCREENSHOTS, TRAINER, chromium_missing

MISSING = chromium_missing()
if MISSING:
    pytest.skip(MISSING, allow_module_level=True)

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    tokens = [
        {"token": ADMIN, "name": "ops", "scopes": ["admin"]},
        {"token": TRAINER, "name": "ci", "scopes": ["train"]},
        {"token": READER, "name": "viewer", "scopes": ["read"]},
    ]
    app = App(http_settings(tmp_path_factory.mktemp("ui") / "data", tokens=tokens, max_body_mb=5))
    await app.start()
    yield app
    await app.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, ui_app: App) -> AsyncIterator[Page]:
    assert ui_app.http is not None
    context = await browser.new_context(base_url=ui_app.http.url)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert [] == errors  # no uncaught script error on any page a test visited


async def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot for people to look at (not committed)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
