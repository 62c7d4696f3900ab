"""What the HTTP layer shares between requests, owned by one `HttpServer` (no globals)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from bot.core.services import Services
from bot.http.metrics import HttpMetrics
from bot.settings import HookSettings, Settings

KEEPALIVE_S = 15.0
CLIENT = web.RequestKey("trainbot_client", str)  # who is calling, set by the auth middleware
Auth = Literal["token", "hook", "none"]  # how a route checks its caller


@dataclass
class ServerState:
    """Services, settings, metrics, each route's auth mode and the open streams."""

    services: Services
    settings: Settings
    metrics: HttpMetrics = field(default_factory=HttpMetrics)
    auth: dict[tuple[str, str], Auth] = field(default_factory=dict)  # (method, path): mode
    openapi: dict[str, object] = field(default_factory=dict)
    keepalive_s: float = KEEPALIVE_S
    # Long-lived responses (SSE, archives) are cancelled at shutdown instead of awaited.
    streams: set[asyncio.Task[object]] = field(default_factory=set)
    # Idempotent submits are serialized so two retries in flight cannot both create a job.
    submit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def token_secrets(self) -> list[bytes]:
        """The accepted bearer tokens, as bytes for constant-time comparison."""
        return [t.get_secret_value().encode() for t in self.settings.http.tokens]

    def hook(self, name: str) -> HookSettings | None:
        """A configured webhook by name."""
        return next((h for h in self.settings.http.hooks if h.name == name), None)


def client_id(token: bytes) -> str:
    """How an API client is named in job records and idempotency keys: never the token."""
    return "api:" + hashlib.sha256(token).hexdigest()[:8]
