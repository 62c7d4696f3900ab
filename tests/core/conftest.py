"""A real App (SQLite in tmp_path, real worker processes) with the HTTP and Matrix faces off."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core.services import Services
from bot.settings import Settings
from tests.support.services import make_settings


@pytest.fixture
async def app_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[App] = []

    async def start(settings: Settings | None = None, **trainer: Any) -> App:
        app = App(settings or make_settings(tmp_path / "data", **trainer))
        await app.start()
        started.append(app)
        return app

    yield start
    for app in started:
        await app.stop()


@pytest.fixture
async def services(app_factory: Callable[..., Any]) -> Services:
    app = await app_factory()
    return app.services
