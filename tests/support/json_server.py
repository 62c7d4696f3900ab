"""A local HTTP endpoint (127.0.0.1, a free port) whose answer each test sets: a data source."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Seen:
    """One request as the endpoint received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class JsonServer:
    """Answers every request with `body` and `status`; `hold()` keeps answers back."""

    body: bytes = b"[]"
    status: int = 200
    requests: list[Seen] = field(default_factory=list)
    _gate: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    def answer(self, value: Any, status: int = 200) -> None:
        """Answer with `value` as JSON."""
        self.answer_raw(json.dumps(value).encode(), status)

    def answer_raw(self, body: bytes, status: int = 200) -> None:
        """Answer with these bytes."""
        self.body, self.status = body, status

    def hold(self) -> None:
        """Requests wait (unanswered) until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        """Answer held requests and those to come."""
        self._gate.set()

    async def wait_for_request(self) -> Seen:
        """The next request to arrive (or the newest, if one arrived since the last call)."""
        await self._arrived.wait()
        self._arrived.clear()
        return self.requests[-1]

    async def start(self) -> str:
        """Listen on a free port; the base URL."""
        self._gate.set()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # its lines are not the bot's
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        self._gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            Seen(request.method, request.path_qs, dict(request.headers), await request.read())
        )
        self._arrived.set()
        await self._gate.wait()
        return web.Response(body=self.body, status=self.status, content_type="application/json")
