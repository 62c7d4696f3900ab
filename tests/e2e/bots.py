"""The bot's Matrix layer under test: a real MatrixConnection that records what it hears."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from bot.matrix import IncomingMessage, MatrixConfig, MatrixConnection


class MemoryState:
    """An in-memory StateStore (production uses storage.state.StateRepo on SQLite)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value


class TestBot:
    """A MatrixConnection plus an inbox of every message handed to the app."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, config: MatrixConfig, state: MemoryState | None = None) -> None:
        self.config = config
        self.state = state or MemoryState()
        self.inbox: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.connection = MatrixConnection(config, self.state, self.inbox.put)

    @property
    def user_id(self) -> str:
        return self.config.user_id

    async def start(self) -> TestBot:
        await self.connection.start()
        async with asyncio.timeout(15):
            await self.connection.wait_for_sync()
        return self

    async def stop(self) -> None:
        await self.connection.stop()

    def restarted(self, **changes: object) -> TestBot:
        """A new process of the same bot: same store dir, same state store."""
        return TestBot(replace(self.config, **changes), self.state)  # type: ignore[arg-type]

    async def next_message(self, within_s: float = 10.0) -> IncomingMessage:
        async with asyncio.timeout(within_s):
            return await self.inbox.get()

    async def caught_up(self, syncs: int = 2) -> None:
        """Let the bot complete a few more syncs (so anything it would hear, it heard)."""
        async with asyncio.timeout(15):
            await self.connection.wait_for_sync(syncs)


def bot_config(
    base_url: str, user_id: str, password: str, store_dir: Path, **extra: object
) -> MatrixConfig:
    defaults: dict[str, object] = {"allowed_users": ["@alice*"], "sync_timeout_ms": 500}
    return MatrixConfig(
        homeserver=base_url,
        user_id=user_id,
        password=password,
        store_dir=store_dir,
        **(defaults | extra),  # type: ignore[arg-type]
    )
