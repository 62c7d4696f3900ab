"""Replay protection and the saved login survive a restart."""

from __future__ import annotations

from pathlib import Path

from bot.matrix.history import History
from bot.matrix.session import SavedSession, SessionFile


class MemoryState:
    """The StateStore shape, in memory (tests/e2e/bots.py has the same for e2e tests)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value


async def test_handled_events_and_token_survive_a_restart() -> None:
    state = MemoryState()
    history = History(state, remember=3)
    await history.load()
    for event_id in ("$1", "$2", "$3", "$4"):
        await history.mark_handled(event_id)
    await history.save_sync_token("s42")
    await history.set_joined_at("!r", 1700)

    restarted = History(state, remember=3)
    await restarted.load()

    assert restarted.sync_token == "s42"
    assert [restarted.is_handled(e) for e in ("$1", "$2", "$3", "$4")] == [False, True, True, True]
    assert restarted.joined_at("!r") == 1700


def test_session_file_is_private_and_per_user(tmp_path: Path) -> None:
    sessions = SessionFile(tmp_path / "store")
    sessions.save(SavedSession("@bot:hs", "DEVICE", "token"))

    assert sessions.load("@bot:hs") == SavedSession("@bot:hs", "DEVICE", "token")
    assert sessions.load("@other:hs") is None
    assert (sessions.path.stat().st_mode & 0o777) == 0o600
