"""Build the Ray backend from `[ray]`, or the stand-in that says what to configure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.datasets import DatasetService
from bot.core.jobs.backends.local_runs import JobSettings
from bot.core.jobs.backends.unconfigured import Unconfigured
from bot.core.jobs.ledger import JobLedger
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.ports import TrainingBackend

if TYPE_CHECKING:
    from bot.settings import RaySettings

NO_RAY = 'backend=ray needs the [ray] section configured (address = "auto" or "host:port")'


def build_ray_backend(
    settings: RaySettings,
    data_dir: Path,
    ledger: JobLedger,
    datasets: DatasetService,
    models: ModelService,
    notifications: NotificationOutbox,
    jobs: JobSettings,
) -> TrainingBackend:
    """The Ray backend; nothing of Ray is imported until a job talks to the cluster."""
    if not settings.address:
        return Unconfigured("ray", NO_RAY)
    from bot.core.jobs.backends.ray import RayBackend, RaySetup
    from bot.core.jobs.backends.ray_cluster import ClusterSettings, RayCluster
    from bot.core.jobs.backends.ray_jobs import RunSettings
    from trainer.distributed.resources import Resources

    storage = Path(settings.storage_path) if settings.storage_path else data_dir / "ray"
    storage = storage.expanduser().resolve()
    defaults = Resources(
        settings.workers,
        settings.gpus_per_worker,
        settings.cpus_per_worker,
        dict(settings.worker_resources),
    )
    runs = RunSettings(
        str(storage), settings.max_failures, settings.poll_interval_s, settings.retry_s
    )
    cluster = RayCluster(
        ClusterSettings(settings.address, settings.namespace, settings.warm_workers, defaults)
    )
    setup = RaySetup(storage, defaults, runs)
    return RayBackend(ledger, datasets, models, notifications, cluster, jobs, setup)
