"""What the HTTP layer shares between requests, owned by one `HttpServer` (no globals)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from bot.core.services import Services
from bot.http.limits import Caps, ConnectionGate, StreamSlots, open_file_limit
from bot.http.metrics import HttpMetrics
from bot.settings import HookSettings, Scope, Settings, TokenSettings

KEEPALIVE_S = 15.0
CLIENT = web.RequestKey("trainbot_client", str)  # who is calling, set by the auth middleware
Auth = Literal["token", "hook", "none"]  # how a route checks its caller
# What each scope grants: admin includes train, train includes read.
GRANTS: dict[Scope, frozenset[Scope]] = {
    "read": frozenset({"read"}),
    "train": frozenset({"read", "train"}),
    "admin": frozenset({"read", "train", "admin"}),
}
ALL_SCOPES = GRANTS["admin"]
SCOPES = web.RequestKey("trainbot_scopes", frozenset)  # what the caller's token may do


@dataclass(frozen=True)
class Caller:
    """An API client: its identity (never the token) and what its token may do."""

    id: str
    scopes: frozenset[Scope]

    @classmethod
    def of(cls, token: TokenSettings) -> Caller:
        """From a configured token; no scopes configured means everything."""
        secret = token.token.get_secret_value().encode()
        name = f"api:{token.name}" if token.name else client_id(secret)
        if token.scopes is None:
            return cls(name, ALL_SCOPES)
        return cls(name, frozenset().union(*(GRANTS[s] for s in token.scopes)))


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
    # Each route's scope: (method, path): scope.
    scopes: dict[tuple[str, str], Scope] = field(default_factory=dict)
    caps: Caps = field(init=False)
    stream_slots: StreamSlots = field(init=False)
    gate: ConnectionGate | None = None  # set when the server listens

    def __post_init__(self) -> None:
        self.caps = Caps.fitted(self.settings.http, open_file_limit())
        self.stream_slots = StreamSlots(self.caps.streams, self.caps.streams_per_client)

    def tokens(self) -> list[tuple[bytes, Caller]]:
        """The accepted bearer tokens as bytes (for constant-time comparison), with callers."""
        return [
            (t.token.get_secret_value().encode(), Caller.of(t)) for t in self.settings.http.tokens
        ]

    def hook(self, name: str) -> HookSettings | None:
        """A configured webhook by name."""
        return next((h for h in self.settings.http.hooks if h.name == name), None)


def client_id(token: bytes) -> str:
    """How an API client is named in job records and idempotency keys: never the token."""
    return "api:" + hashlib.sha256(token).hexdigest()[:8]
