"""Health, readiness, status, metrics, and the API's own description (OpenAPI and /docs)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from bot.core.services import Services
from bot.core.status import overview
from bot.core.types import JobStatus
from bot.http.docs_page import render_docs
from bot.http.routing import Call, Route, json_response


class Health(BaseModel):
    """The process answers."""

    status: str


class Readiness(BaseModel):
    """Whether the service can do work, and each check's finding."""

    ready: bool
    checks: dict[str, str]


class Status(BaseModel):
    """Jobs by state, the queue, running jobs with progress, active models, versions."""

    jobs: dict[str, int]
    queue_length: int
    running: list[dict[str, Any]]
    active_models: list[dict[str, Any]]
    versions: dict[str, str]
    clusters: dict[str, dict[str, Any]] = {}  # e.g. "ray": nodes, CPUs/GPUs, its jobs


async def healthz(call: Call) -> web.StreamResponse:
    """Liveness: answers while the event loop runs (no token needed)."""
    return json_response(Health(status="ok"))


async def readyz(call: Call) -> web.StreamResponse:
    """Readiness: storage answers and the job dispatcher runs; 503 otherwise."""
    services = call.services
    checks: dict[str, str] = {}
    try:
        await services.store.db.fetchone("SELECT 1")
        checks["storage"] = "ok"
    except Exception as exc:  # any failure here means "not ready", with the reason
        checks["storage"] = f"failed: {exc}"
    checks["job_dispatcher"] = "ok" if services.jobs.dispatching else "stopped"
    worker = services.generation.worker
    pid = getattr(worker, "pid", None)
    checks["generation_worker"] = f"running (pid {pid})" if pid else "idle (starts on demand)"
    storage_ok = checks["storage"] == "ok"
    checks["training_workers"] = await _training_workers(services) if storage_ok else "unknown"
    ready = checks["storage"] == "ok" and checks["job_dispatcher"] == "ok"
    return json_response(Readiness(ready=ready, checks=checks), 200 if ready else 503)


async def _training_workers(services: Services) -> str:
    # One worker process per running local job (the pool belongs to the local backend).
    running = await services.store.jobs.with_status(JobStatus.RUNNING)
    return f"{sum(1 for job in running if job.backend == 'local')} running"


async def status(call: Call) -> web.StreamResponse:
    """The overview behind `!status`."""
    found = await overview(call.services.store, call.services.jobs.backends.values())
    return json_response(Status.model_validate(found))


async def metrics(call: Call) -> web.StreamResponse:
    """Prometheus text exposition."""
    body = await call.state.metrics.render(call.services)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(call: Call) -> web.StreamResponse:
    """This API as an OpenAPI 3.1 document, generated from the route declarations."""
    return json_response(call.state.openapi)


async def docs(call: Call) -> web.StreamResponse:
    """The OpenAPI document as a self-contained HTML page."""
    return web.Response(text=render_docs(call.state.openapi), content_type="text/html")


ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness", "system", response=Health, auth="none"),
    Route(
        "GET", "/readyz", readyz, "Readiness", "system", response=Readiness, extra_statuses=(503,)
    ),
    Route("GET", "/v1/status", status, "Service overview", "system", response=Status),
    Route("GET", "/metrics", metrics, "Prometheus metrics", "system", produces="text/plain"),
    Route("GET", "/openapi.json", openapi, "OpenAPI 3.1 document", "system"),
    Route("GET", "/docs", docs, "API documentation (HTML)", "system", produces="text/html"),
)
