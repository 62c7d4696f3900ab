"""`HttpServer`: the aiohttp application over the services, started and stopped by the App."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.core.services import Services
from bot.http.limits import GatedSite
from bot.http.middleware import build_middlewares
from bot.http.openai.routes import ROUTES as OPENAI_ROUTES
from bot.http.openapi import build_openapi
from bot.http.routes import (
    dataprep,
    datasets,
    generate,
    hooks,
    jobs,
    models,
    schedules,
    sources,
    system,
)
from bot.http.routing import Route, add_routes
from bot.http.state import ServerState
from bot.http.ui.routes import add_ui
from bot.logs import get_logger
from bot.settings import Settings

log = get_logger(__name__)
ROUTES: tuple[Route, ...] = (
    *system.ROUTES,
    *datasets.ROUTES,
    *jobs.ROUTES,
    *models.ROUTES,
    *generate.ROUTES,
    *hooks.ROUTES,
    *dataprep.ROUTES,
    *sources.ROUTES,
    *schedules.ROUTES,
    *OPENAI_ROUTES,
)
SHUTDOWN_TIMEOUT_S = 5.0
MAX_LINE = 64 * 1024


def build_app(services: Services, settings: Settings) -> web.Application:
    """The aiohttp application: routes, middlewares and state, without a listening socket."""
    state = ServerState(services, settings)
    app = web.Application(
        middlewares=build_middlewares(state),
        client_max_size=int(settings.http.max_body_mb * 1024 * 1024),
    )
    app[STATE] = state
    add_routes(app, ROUTES, state)
    if settings.http.ui:
        add_ui(app, state)
    state.openapi = build_openapi(ROUTES, title="Trainbot API", version=_version())
    app.on_shutdown.append(_end_streams)
    return app


STATE = web.AppKey("trainbot_http_state", ServerState)


async def _end_streams(app: web.Application) -> None:
    # Open SSE streams and downloads would hold the shutdown for their whole timeout.
    tasks = list(app[STATE].streams)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)


def _version() -> str:
    try:
        return version("trainbot")
    except PackageNotFoundError:
        return "0"


class _OneLineForBadRequests(logging.Filter):
    """aiohttp logs every unparsable request with a traceback; one warning line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "malformed HTTP request (answered 400): %s", (error.message,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_QUIET = _OneLineForBadRequests()


class HttpServer:
    """Serves the API on `http.host:http.port` (port 0: any free port; see `url`)."""

    def __init__(self, services: Services, settings: Settings) -> None:
        self.settings = settings
        self.app = build_app(services, settings)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def state(self) -> ServerState:
        """The shared HTTP state (metrics, route table, open streams)."""
        return self.app[STATE]

    @property
    def url(self) -> str:
        """The base URL with the port actually bound."""
        if self._url is None:
            raise RuntimeError("the HTTP server is not started")
        return self._url

    async def start(self) -> None:
        """Bind and serve."""
        logging.getLogger("aiohttp.server").addFilter(_QUIET)  # once: the same filter object
        # Longer request lines and headers than aiohttp's 8 KiB default, so an over-long
        # query or header reaches validation and gets a JSON 422, not a bare-text 400.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
        )
        await self._runner.setup()
        host = self.settings.http.host
        caps = self.state.caps
        site = GatedSite(self._runner, host, self.settings.http.port, caps.connections)
        await site.start()
        self.state.gate = site.gate
        port = self._runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{port}"
        log.info(
            "http api listening",
            url=self._url,
            routes=len(ROUTES),
            max_connections=caps.connections,
            max_streams=caps.streams,
        )

    async def stop(self) -> None:
        """Stop listening, end open streams, wait briefly for requests in flight."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
