"""The login the bot keeps between runs, so a restart reuses its device."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SavedSession:
    """Who the bot logged in as, on which device, with which token."""

    user_id: str
    device_id: str
    access_token: str


class SessionFile:
    """`session.json` under the store dir; readable by the owner only (it holds a token)."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir / "session.json"

    def load(self, user_id: str) -> SavedSession | None:
        """The saved session of `user_id`, or None (missing, unreadable, other user)."""
        try:
            data = json.loads(self.path.read_text())
            session = SavedSession(
                str(data["user_id"]), str(data["device_id"]), str(data["access_token"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return session if session.user_id == user_id else None

    def save(self, session: SavedSession) -> None:
        """Write atomically so a crash never leaves half a file behind."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(asdict(session), file)
        tmp.replace(self.path)
