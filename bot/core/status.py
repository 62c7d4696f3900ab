"""The overview behind `!status` and `GET /v1/status`."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from bot.core.types import JobStatus
from storage.overview import read_overview
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


@runtime_checkable
class ClusterBackend(Protocol):
    """A backend that trains on a cluster (Ray) and can describe it."""

    name: str

    async def cluster_overview(self) -> dict[str, Any]: ...


async def overview(store: Store, backends: Iterable[object] = ()) -> dict[str, Any]:
    """Jobs by state, the queue, running jobs with progress, active models, clusters."""
    found = await read_overview(store.db)
    clusters = [b for b in backends if isinstance(b, ClusterBackend)]
    return {
        "clusters": {b.name: await b.cluster_overview() for b in clusters},
        "jobs": found.counts,
        "queue_length": found.counts.get(JobStatus.QUEUED, 0),
        "running": found.running,
        "active_models": found.active,
        "versions": dict(package_versions()),  # a copy: the cached one stays intact
    }
