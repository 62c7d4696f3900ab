"""A real Trainbot serving HTTP to clients that block, in a thread or as `trainbot run`.

The official `openai` client and schemathesis make blocking requests, so the server runs
in a background event loop (`ServerThread`; `run()` reads its services from the test's
thread) or as its own process (`ServiceProcess`, the command people run).
"""

import asyncio
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import TypeVar

from bot.app import App
from bot.settings import Settings

Result = TypeVar("Result")
REPO = Path(__file__).resolve().parents[2]


class ServerThread:
    """The App in a background event loop; `url` once started, stopped on exit."""

    def __init__(self, settings: Settings) -> None:
        self.app = App(settings)
        self.url = ""
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.app.start()
        assert self.app.http is not None
        self.url = self.app.http.url
        self._started.set()
        await self._stop.wait()
        await self.app.stop()

    def run(self, coro: Coroutine[object, object, Result]) -> Result:
        """Run a coroutine in the server's loop (to read its services) and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        assert self._started.wait(60), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


class ServiceProcess:
    """`trainbot run` as a real process with the given config text; `url` once it answers.

    What people run: the CLI loads the TOML file, raises the open-file limit, and serves
    until SIGTERM. The log goes to `log` (shown when the service does not come up).
    """

    def __init__(self, folder: Path, config: str) -> None:
        self.config = folder / "config.toml"
        self.config.write_text(config, encoding="utf-8")
        self.log = folder / "service.log"
        self.port = int(re.findall(r"(?m)^port = (\d+)$", config)[0])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "ServiceProcess":
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self._healthy():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "trainbot run did not answer /healthz in 60 s"
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)  # a graceful stop, as a person's Ctrl-C
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
