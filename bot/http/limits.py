"""Caps on open connections and event streams, kept below the process's open-file limit.

Each connection and stream holds a file descriptor; without caps a flood of them
exhausts the process's descriptors and nothing, /healthz included, can be accepted.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from bot.core.errors import TooMany
from bot.http.errors import Busy
from bot.logs import get_logger
from bot.settings import HttpSettings

log = get_logger(__name__)
# Descriptors kept for everything but client connections: SQLite, worker pipes, logs,
# Matrix, and connections accepted in one burst before the gate counts them.
FD_RESERVE = 192
# Connections past the cap that may still ask /healthz (anything else gets 503), so a
# health probe gets through while the cap is reached.
HEALTH_OVERFLOW = 16
# Connections answered 503 at once at most; more are closed without an answer, so
# a flood cannot take the descriptors the caps leave free.
MAX_REFUSING = 64
REFUSAL_WAIT_S = 1.0  # how long a refused connection may take to send its request
NOFILE_TARGET = 65536  # plenty for the caps; no need to take an unlimited hard limit
RETRY_AFTER_S = 5


def _raw_answer(status: str, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode() + body


REFUSAL = _raw_answer(
    "503 Service Unavailable",
    b'{"error": {"code": "busy", "message": "too many open connections; retry soon"}}',
    f"Retry-After: {RETRY_AFTER_S}",
)
# The liveness answer (as GET /healthz gives it): a refused connection still shows the
# process is alive.
HEALTHY = _raw_answer("200 OK", b'{"status": "ok"}')


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit where allowed; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NOFILE_TARGET if hard == resource.RLIM_INFINITY else min(hard, NOFILE_TARGET)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # not allowed here: keep the caps below the old limit
            pass
    return soft


def open_file_limit() -> int:
    """The soft RLIMIT_NOFILE (a large number when unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return NOFILE_TARGET if soft == resource.RLIM_INFINITY else soft


@dataclass(frozen=True)
class Caps:
    """The caps in force: the configured ones, lowered to fit the open-file limit."""

    connections: int
    streams: int
    streams_per_client: int

    @classmethod
    def fitted(cls, http: HttpSettings, nofile: int) -> Caps:
        """The configured caps, lowered (with a warning) when the descriptors cannot hold them."""
        room = max(1, nofile - FD_RESERVE - HEALTH_OVERFLOW - MAX_REFUSING)
        connections = min(http.max_connections, room)
        if connections < http.max_connections:
            log.warning(
                "http.max_connections lowered to fit the open-file limit",
                configured=http.max_connections,
                used=connections,
                open_file_limit=nofile,
            )
        streams = min(http.max_streams, connections)
        return cls(connections, streams, min(http.max_streams_per_token, streams))


@dataclass
class StreamSlots:
    """Counts open event streams, in all and per client."""

    limit: int
    per_client: int
    open: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """A slot for one stream while the block runs; 503 when all are taken, 429 per client."""
        if self.open.total() >= self.limit:
            raise Busy("too many open event streams; retry in a moment", retry_after=RETRY_AFTER_S)
        if self.open[client] >= self.per_client:
            raise TooMany(
                f"this token has {self.per_client} event streams open already; close one first",
                retry_after=RETRY_AFTER_S,
            )
        self.open[client] += 1
        try:
            yield
        finally:
            self.open[client] -= 1
            if self.open[client] <= 0:
                del self.open[client]


class _Refusal(asyncio.Protocol):
    """Answers one request with 503 and closes; one descriptor for at most a second."""

    # Reads the request before answering: closing with unread bytes would send a reset
    # instead of the answer.
    def __init__(self, gate: ConnectionGate) -> None:
        self.gate = gate
        gate.refusing += 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(REFUSAL_WAIT_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data or len(data) > 8192:
            self.timer.cancel()
            health = data.startswith((b"GET /healthz ", b"GET /healthz?"))
            self.transport.write(HEALTHY if health else REFUSAL)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.gate.refusing -= 1


class _Drop(asyncio.Protocol):
    """Past even the refusals: the connection is closed at once, its descriptor freed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


class ConnectionGate:
    """The protocol factory in front of aiohttp's: refuses connections over the caps."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        # Connections accepted past the cap, with when: they may ask only /healthz.
        # (aiohttp's handlers take no weak references, so closed ones are pruned here.)
        self.overflow: dict[web.RequestHandler, float] = {}
        self.refusing = 0  # connections being answered 503 right now

    def __call__(self) -> asyncio.BaseProtocol:
        live = self.server.connections
        if len(live) >= self.limit + HEALTH_OVERFLOW:
            return _Refusal(self) if self.refusing < MAX_REFUSING else _Drop()
        handler = self.server()
        if len(live) >= self.limit:
            now = time.monotonic()
            self._prune(set(live), now)
            self.overflow[handler] = now
        return handler

    def _prune(self, live: set[web.RequestHandler], now: float) -> None:
        # A handler registers as a connection just after it is made: only older ones
        # that are no longer connections are gone.
        for handler, made in list(self.overflow.items()):
            if handler not in live and now - made > 1.0:
                del self.overflow[handler]

    def is_overflow(self, request: web.BaseRequest) -> bool:
        """Whether the request came on a connection past the cap."""
        return request.protocol in self.overflow


class GatedSite(web.TCPSite):
    """A TCP site whose connections pass the gate first."""

    __slots__ = ("_gate",)

    def __init__(self, runner: web.AppRunner, host: str, port: int, limit: int) -> None:
        super().__init__(runner, host, port)
        server = runner.server
        assert server is not None, "set the runner up first"
        self._gate = ConnectionGate(server, limit)

    @property
    def gate(self) -> ConnectionGate:
        """The gate, for the middleware's overflow check."""
        return self._gate

    async def start(self) -> None:
        """Listen with the gate as the protocol factory (TCPSite.start, gate in front)."""
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._gate, self._host, self._port, backlog=self._backlog
        )
