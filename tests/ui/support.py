"""The dashboard under test: a real App over HTTP and a real headless Chromium (Playwright)."""

import os
import shutil
from pathlib import Path

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
