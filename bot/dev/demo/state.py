"""What the demo keeps in its work dir between runs: passwords and the HTTP token, and
where the running demo is (homeserver, room, users, HTTP API)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoState:
    """Secrets generated on the first run; a re-run in the same work dir reuses them."""

    bot_password: str
    demo_password: str
    http_token: str

    @classmethod
    def load_or_create(cls, work_dir: Path) -> DemoState:
        """Read `demo.json` from `work_dir`, or generate and write it (owner-only)."""
        path = work_dir / "demo.json"
        try:
            data = json.loads(path.read_text())
            return cls(str(data["bot_password"]), str(data["demo_password"]), data["http_token"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DemoSetupError(f"{path} is unreadable ({exc}); remove {work_dir}") from None
        state = cls(_password(), _password(), secrets.token_urlsafe(24))
        state.save(work_dir)
        return state

    def save(self, work_dir: Path, **details: str | None) -> None:
        """Write `demo.json` (owner-only): the secrets, and once the demo is up how to
        reach it (`homeserver`, `room_id`, `bot_user_id`, `demo_user_id`, `http_url`),
        so a script needs nothing from the terminal."""
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / "demo.json"
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(asdict(self) | details, file, indent=2)
        os.replace(tmp, path)


class DemoSetupError(RuntimeError):
    """The demo could not be set up; the message says what to do."""


def _password() -> str:
    # Short and typeable: it is shown on screen to be typed into another client.
    return "-".join(secrets.token_hex(3) for _ in range(3))
