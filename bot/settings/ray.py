"""[ray]: the optional Ray training backend (`backend=ray`)."""

from __future__ import annotations

from pydantic import Field

from bot.settings.section import Section


class RaySettings(Section):
    """[ray]: train on a Ray cluster; empty `address` leaves the backend off."""

    address: str = Field(
        "", description='Cluster to join: "auto", "host:6379", or empty (backend off).'
    )
    storage_path: str = Field(
        "",
        description="Folder every node shares, for datasets, checkpoints and models "
        "(empty: <data_dir>/ray, one machine only).",
    )
    namespace: str = Field("trainbot", description="Ray namespace of the job actors.")
    workers: int = Field(1, ge=1, description="Data-parallel workers per job by default.")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs each worker holds by default.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each worker holds by default.")
    worker_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources each worker also holds, e.g. {trainbot = 1}: "
        "jobs then train only on nodes started with --resources='{\"trainbot\": 1}'.",
    )
    warm_workers: int = Field(
        1,
        ge=0,
        description="Idle training processes (torch loaded) the cluster keeps between "
        "one-worker CPU jobs, so such a job starts in about a second instead of Ray Train's "
        "~15 s; each holds its CPUs while idle and is let go when a job needs them. 0: none.",
    )
    max_failures: int = Field(
        2, ge=0, description="Lost workers or nodes a job survives (resuming) before it fails."
    )
    poll_interval_s: float = Field(
        0.25, gt=0, description="Seconds between reads of a running job's events."
    )
    retry_s: float = Field(
        5.0, gt=0, description="Seconds between tries to reach an unreachable cluster."
    )
