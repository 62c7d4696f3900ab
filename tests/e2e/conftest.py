"""One real Synapse for the whole e2e run; each test makes its own users and rooms."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from nio import AsyncClient

from bot.devserver import SynapseServer, default_synapse_python

from .helpers import Person, login

E2E_DIR = Path(__file__).parent
PASSWORD = "correct horse battery staple"
_names = itertools.count()

MakePerson = Callable[[str], Awaitable[Person]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The server lives in the session's event loop, so every e2e test runs in it too.
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))


def require_synapse() -> None:
    """Skip when Synapse is not installed locally; in CI its absence is a failure."""
    python = default_synapse_python()
    if python.exists():
        return
    reason = f"Synapse not installed at {python} (run scripts/install-synapse.sh)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse() -> AsyncIterator[SynapseServer]:
    """A Synapse shared by all e2e tests (starting one takes a couple of seconds)."""
    require_synapse()
    async with SynapseServer() as server:
        yield server


def unique(name: str) -> str:
    """A localpart no other test (or earlier run against a kept server) has used."""
    return f"{name}{next(_names)}-{os.getpid()}"


@pytest_asyncio.fixture(loop_scope="session")
async def make_person(synapse: SynapseServer) -> AsyncIterator[MakePerson]:
    """Factory: register a fresh user and log them in; clients close after the test."""
    clients: list[AsyncClient] = []

    async def make(name: str) -> Person:
        user_id, _ = await synapse.register_user(unique(name), PASSWORD)
        client = await login(synapse.base_url, user_id, PASSWORD)
        clients.append(client)
        person = Person(client)
        await person.sync()  # later syncs then show only what happens from now on
        return person

    yield make
    await asyncio.gather(*(client.close() for client in clients))
