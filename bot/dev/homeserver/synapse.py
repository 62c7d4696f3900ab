"""Start and stop a real Synapse on 127.0.0.1 and register users on it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from bot.dev.homeserver.config import build_config, write_files

REPO_ROOT = Path(__file__).resolve().parents[3]
PYTHON_ENV = "TRAINBOT_SYNAPSE_PYTHON"


class SynapseStartError(RuntimeError):
    """Synapse did not come up; the message carries the tail of its logs."""


def default_synapse_python() -> Path:
    """The interpreter of the Synapse venv: `$TRAINBOT_SYNAPSE_PYTHON` or `.venv-synapse`."""
    override = os.environ.get(PYTHON_ENV)
    return Path(override) if override else REPO_ROOT / ".venv-synapse" / "bin" / "python"


class SynapseServer:
    """A throwaway Synapse homeserver: SQLite, no federation, no TLS, lax rate limits.

    Use as `async with SynapseServer() as hs:` or call `start()` / `stop()`.
    `config_overrides` replaces top-level keys of homeserver.yaml (for example a strict
    `rc_message`). Without `work_dir` a temporary directory is used and removed on stop;
    a given `work_dir` is kept, so its database and users survive a restart.
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        python: Path | None = None,
        server_name: str = "localhost",
        config_overrides: Mapping[str, Any] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.python = python or default_synapse_python()
        self.server_name = server_name
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None
        self._overrides = dict(config_overrides or {})
        self._given_dir = work_dir
        self._work_dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._port = 0
        self._registration_secret = ""

    @property
    def base_url(self) -> str:
        """The client-server API root, e.g. `http://127.0.0.1:41234`."""
        if not self._port:
            raise RuntimeError("SynapseServer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def work_dir(self) -> Path:
        """Where config, database, media and logs live."""
        if self._work_dir is None:
            raise RuntimeError("SynapseServer is not started")
        return self._work_dir

    async def start(self) -> None:
        """Write the config, launch Synapse and wait until its client API answers."""
        if not self.python.exists():
            raise SynapseStartError(
                f"no Synapse interpreter at {self.python}; run scripts/install-synapse.sh "
                f"or set {PYTHON_ENV}"
            )
        self._work_dir = self._given_dir or Path(tempfile.mkdtemp(prefix="trainbot-synapse-"))
        self._work_dir.mkdir(parents=True, exist_ok=True)
        # Keep the port across a restart so clients can reconnect to the same URL.
        self._port = self._port or _free_port()
        config = build_config(
            self._work_dir, server_name=self.server_name, port=self._port, overrides=self._overrides
        )
        self._registration_secret = str(config["registration_shared_secret"])
        config_path = write_files(self._work_dir, config)
        started = time.monotonic()
        with (self._work_dir / "stdout.log").open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                str(self.python),
                *("-m", "synapse.app.homeserver", "--config-path", str(config_path)),
                cwd=self._work_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            await self._wait_until_ready()
        except BaseException:
            await self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    async def stop(self, grace: float = 10.0) -> None:
        """Terminate Synapse, kill it after `grace` seconds, remove a temporary work dir."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._given_dir is None and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
            self._port = 0

    async def __aenter__(self) -> SynapseServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def register_user(
        self, localpart: str, password: str, admin: bool = False
    ) -> tuple[str, str]:
        """Create a user with the shared-secret admin API; return (user_id, access_token)."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        secret = self._registration_secret
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                response.raise_for_status()
                nonce = (await response.json())["nonce"]
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": _mac(secret, nonce, localpart, password, admin),
            }
            async with http.post(url, json=body) as response:
                payload = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"registering {localpart!r} failed: {payload}")
        return str(payload["user_id"]), str(payload["access_token"])

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Synapse's own log and of its stdout/stderr."""
        parts = []
        for name in ("homeserver.log", "stdout.log"):
            path = self.work_dir / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(parts)

    async def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/_matrix/client/versions"
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise SynapseStartError(
                        f"Synapse exited with {self._process.returncode}\n{self.log_tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise SynapseStartError(
            f"Synapse did not answer {url} within {self.startup_timeout:.0f}s\n{self.log_tail()}"
        )


def _mac(secret: str, nonce: str, localpart: str, password: str, admin: bool) -> str:
    # Synapse's shared-secret registration: HMAC-SHA1 over the NUL-joined fields.
    message = "\x00".join((nonce, localpart, password, "admin" if admin else "notadmin"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha1).hexdigest()


def _free_port() -> int:
    # The port is free now; the tiny race until Synapse binds it is acceptable for tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
