"""The dashboard under test: a real App over HTTP and a real headless Chromium (Playwright)."""

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = os.environ.get("TRAINBOT_CHROMIUM", "/usr/bin/chromium")
# Flags that work here: no sandbox (root in a container), no GPU, nothing fetched from outside.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"  # git-ignored: for people to look at
ADMIN = "ui-admin-token-0123456789"
TRAINER = "ui-trainer-token-0123456789"
READER = "ui-reader-token-0123456789"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


async def sign_in(page: "Page", token: str) -> None:
    """Sign in as a person does: type the token, press Enter, wait for the jobs page."""
    from playwright.async_api import expect

    await page.goto("/")
    await page.get_by_label("API token").fill(token)
    await page.get_by_label("API token").press("Enter")
    await expect(page.locator("#view")).to_have_attribute("data-ready", "#/jobs")


async def visit(page: "Page", hash_: str) -> None:
    """Open a dashboard page and wait until it has loaded its data."""
    from playwright.async_api import expect

    await page.goto(f"/ui{hash_}")
    await expect(page.locator("#view")).to_have_attribute("data-ready", hash_)


async def shot(page: "Page", name: str) -> None:
    """Save a full-page screenshot for people to look at (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
