"""One real Synapse for the whole e2e run; each test makes its own users and rooms."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from nio import AsyncClient

from bot.dev.homeserver import SynapseServer, default_synapse_python

from .bots import TestBot, bot_config
from .helpers import Person, login

E2E_DIR = Path(__file__).parent
PASSWORD = "correct horse battery staple"
_names = itertools.count()

MakePerson = Callable[[str], Awaitable[Person]]


# Every e2e module sets `pytestmark = E2E`: the server and the clients live in the
# session's event loop, so the tests must run in it too.
E2E = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


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
async def synapse(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SynapseServer]:
    """A Synapse shared by all e2e tests (starting one takes a couple of seconds).

    Its folder is kept, so a test may stop and start it again with every user and room
    still there (the homeserver-restart test), instead of starting one of its own.
    """
    require_synapse()
    async with SynapseServer(tmp_path_factory.mktemp("synapse")) as server:
        yield server


def unique(name: str) -> str:
    """A localpart no other test (or earlier run against a kept server) has used."""
    return f"{name}{next(_names)}-{os.getpid()}"


async def limit_messages(
    synapse: SynapseServer, user_id: str, per_second: int, burst_count: int
) -> None:
    """Give one user a strict message rate limit on the shared, lax homeserver.

    Synapse's per-user override (admin API) replaces `rc_message` for that user alone, so
    a rate-limit test needs no second homeserver with a strict config (seconds to start).
    """
    _, token = await synapse.register_user(unique("admin"), PASSWORD, admin=True)
    url = f"{synapse.base_url}/_synapse/admin/v1/users/{user_id}/override_ratelimit"
    limit = {"messages_per_second": per_second, "burst_count": burst_count}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(url, json=limit) as response,
    ):
        assert 200 == response.status, await response.text()


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


class BotFactory:
    """Makes bots for one test and stops every one of them afterwards."""

    def __init__(self, synapse: SynapseServer, tmp_path: Path) -> None:
        self.synapse = synapse
        self.tmp_path = tmp_path
        self.bots: list[TestBot] = []

    async def new(self, **config: object) -> TestBot:
        """Register a bot account and start its MatrixConnection."""
        user_id, _ = await self.synapse.register_user(unique("trainbot"), PASSWORD)
        store = self.tmp_path / f"store-{len(self.bots)}"
        bot = TestBot(bot_config(self.synapse.base_url, user_id, PASSWORD, store, **config))
        self.bots.append(bot)
        return await bot.start()

    async def restart(self, bot: TestBot, **changes: object) -> TestBot:
        """Stop `bot` and start it again with the same store dir and state."""
        await bot.stop()
        again = bot.restarted(**changes)
        self.bots.append(again)
        return await again.start()


@pytest_asyncio.fixture(loop_scope="session")
async def bots(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[BotFactory]:
    """Bots for this test, stopped afterwards."""
    factory = BotFactory(synapse, tmp_path)
    yield factory
    for bot in factory.bots:
        await bot.stop()
