"""The overview behind `!status` and `GET /v1/status`."""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

from storage.store import Store

PACKAGES = ("trainbot", "torch", "transformers", "matrix-nio", "aiohttp", "openai")


@functools.cache  # reading metadata takes milliseconds; what runs cannot change meanwhile
def package_versions() -> dict[str, str]:
    """Installed versions, read from package metadata once (nothing is imported)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


async def overview(store: Store) -> dict[str, Any]:
    """Jobs by state, the queue, running jobs with their latest progress, active models."""
    counts = await store.jobs.count_by_status()
    running = []
    for job in await store.jobs.with_status("running", "validating_files"):
        progress = await store.events.last(job.id, "progress")
        running.append(
            {"id": job.id, "name": job.name, "status": job.status,
             "progress": progress.data if progress else None}
        )  # fmt: skip
    active = [
        {"id": m.id, "label": m.label, "backend": m.backend, "metrics": m.metrics}
        for m in await store.models.active()
    ]
    return {
        "jobs": counts,
        "queue_length": counts.get("queued", 0),
        "running": running,
        "active_models": active,
        "versions": dict(package_versions()),  # a copy: the cached one stays intact
    }
