"""A real App serving HTTP from its own thread, so the blocking `openai` client can call it."""

import asyncio
import json
import random
import threading
from pathlib import Path

from bot.app import App
from bot.settings import Settings

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "sun"]


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

    def run(self, coro: object) -> object:
        """Run a coroutine in the server's loop (to read its services) and wait for it."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(60)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        assert self._started.wait(60), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


def chat_rows(count: int = 40, seed: int = 0) -> list[dict[str, object]]:
    """Short conversations from a small vocabulary: learnable in a few steps."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for _ in range(count):
        question = " ".join(rng.choice(WORDS) for _ in range(4))
        answer = " ".join(rng.choice(WORDS) for _ in range(6))
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        rows.append({"messages": messages})
    return rows


def jsonl(rows: list[dict[str, object]]) -> bytes:
    """Rows as a JSONL file."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def write_jsonl(folder: Path, name: str, rows: list[dict[str, object]]) -> Path:
    """A JSONL file on disk, as a person would upload it."""
    path = folder / name
    path.write_bytes(jsonl(rows))
    return path
