"""What the demo keeps in its work dir between runs: passwords and the HTTP token."""

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
        work_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(asdict(state), file, indent=2)
        return state


class DemoSetupError(RuntimeError):
    """The demo could not be set up; the message says what to do."""


def _password() -> str:
    # Short and typeable: it is shown on screen to be typed into another client.
    return "-".join(secrets.token_hex(3) for _ in range(3))
