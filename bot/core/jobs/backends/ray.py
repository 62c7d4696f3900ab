"""The Ray backend: jobs train on a Ray cluster, data-parallel across its workers.

A submitted job is checked like a local one (hyperparameters, method, dataset, name,
base, whether each worker's share fits in memory: `trainer.max_memory_gb`) plus its
resources (`workers`, `gpus_per_worker`, `cpus_per_worker`); its dataset is copied to
`[ray] storage_path` (with its validation dataset, if it has one), where its
checkpoints and model are written too, so every node sees them. It is stored as queued
and driven by `ray_runs.RayRuns`: each attempt is a run of Ray Train's `TorchTrainer` on
the cluster's detached `RunHost` actor (found again by name after a restart), its
events polled from there.

    queued (waiting for the cluster, with the reason) → validating_files (run started)
           → running → succeeded | failed | cancelled | paused → queued (resume) …
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.datasets import DatasetService
from bot.core.errors import Invalid
from bot.core.jobs.backends.local_runs import JobSettings
from bot.core.jobs.backends.ray_cluster import RayCluster
from bot.core.jobs.backends.ray_jobs import RunSettings
from bot.core.jobs.backends.ray_runs import RayRuns
from bot.core.jobs.bases import BaseRules, check_fits, resolve_base
from bot.core.jobs.draft import JobDraft
from bot.core.jobs.hyperparameters import parse_hyperparameters, parse_job_method
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control
from bot.core.jobs.train_spec import (
    DatasetInput,
    build_train_spec,
    estimate_seconds,
    run_options,
)
from bot.core.models import ModelService
from bot.core.naming import check_name
from bot.core.notifications import NotificationOutbox
from bot.core.types import JobStatus
from storage.ids import new_id
from storage.jobs import JobRow
from trainer.distributed.resources import Resources
from trainer.merge import base_under
from trainer.spec import Hyperparameters

S = JobStatus
RESOURCE_KEYS = ("workers", "gpus_per_worker", "cpus_per_worker")


@dataclass(frozen=True)
class RaySetup:
    """What the Ray backend needs besides the local job settings."""

    storage_path: Path
    defaults: Resources
    runs: RunSettings


class RayBackend:
    """`backend="ray"`: training jobs on a Ray cluster."""

    name = "ray"
    queues = True  # a job waits in Trainbot's queue while the cluster is unreachable

    def __init__(
        self,
        ledger: JobLedger,
        datasets: DatasetService,
        models: ModelService,
        notifications: NotificationOutbox,
        cluster: RayCluster,
        jobs: JobSettings,
        setup: RaySetup,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.datasets = datasets
        self.models = models
        self.jobs = jobs
        self.setup = setup
        self.cluster = cluster
        self.runs = RayRuns(ledger, models, notifications, cluster, setup.runs)
        self.bases = BaseRules(self.store.artifacts.models_root, jobs.base_dirs, jobs.allow_hub)

    @property
    def ready(self) -> bool:
        """Always: a job waits (queued, with a reason) while the cluster is unreachable."""
        return True

    async def recover(self) -> None:
        """Drive again the jobs the last process drove; their actors may still be training."""
        for job in await self.ledger.with_status(
            self.name, S.QUEUED, S.VALIDATING_FILES, S.RUNNING
        ):
            if job.status != S.QUEUED:
                await self.ledger.log(job.id, "service restarted; looking for its Ray run")
            self.runs.drive(job.id)

    async def start(self) -> None:
        """Nothing to start: each job's task starts with it (or with `recover`)."""

    async def stop(self) -> None:
        """Stop polling; the jobs go on on the cluster and the next start finds them."""
        await self.runs.stop()

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Check the request, copy the dataset to shared storage, store the job as queued."""
        hp = parse_hyperparameters(request.hyperparameters or {})
        resources = parse_resources(request.resources, self.setup.defaults, hp)
        dataset = await self.datasets.resolve(request.dataset)
        name = check_name(request.name or dataset.name, "model")
        base = request.base or self.jobs.default_base
        base_ref, base_path = await resolve_base(base, self.models, self.bases)
        device = "cuda" if resources.gpus_per_worker > 0 else "cpu"
        method = parse_job_method(request.method, base_path, device, dataset.format)
        quantized = bool(method.lora and method.lora.quantize)
        weights = base_under(base_path) or base_path  # an adapter is sized by its base
        per_worker = hp.batch_size // resources.workers  # each worker holds its share
        fits = (weights, method.type, quantized, per_worker, hp.block_size)
        check_fits(*fits, self.jobs.max_memory_gb)
        draft = await JobDraft.resolve(
            self.name,
            request,
            self.datasets,
            name=name,
            dataset=dataset,
            base_ref=base_ref,
            requested_by=requested_by,
            room_id=room_id,
        )
        validation = draft.validation
        job_id = new_id()
        root = self.setup.storage_path / job_id
        shared = root / f"dataset{Path(dataset.path).suffix}"
        await asyncio.to_thread(_copy, Path(dataset.path), shared)
        validation_path = ""
        if validation is not None:  # copied beside it: the workers read shared storage
            validation_path = str(root / f"validation{Path(validation.path).suffix}")
            await asyncio.to_thread(_copy, Path(validation.path), Path(validation_path))
        spec = build_train_spec(
            DatasetInput.of(dataset, str(shared)),
            output_dir=str(root / "model"),
            checkpoint_dir=str(root / "checkpoints"),
            base=base_path,
            hyperparameters=hp,
            method=method,
            options=run_options(self.jobs),
            job_id=job_id,
            device=device,
            validation_path=validation_path,
        )
        stored = {**spec.to_dict(), "ray": {"resources": resources.to_dict(), "attempt": 1}}
        new = draft.new_job(job_id, stored)
        announce = {
            "position": len(await self.store.jobs.with_status(S.QUEUED)) + 1,
            "estimate_s": estimate_seconds(dataset.stats, spec, self._throughput_file),
            "dataset": dataset.label,
            "base": base_ref,
            "backend": self.name,
            "resources": resources.to_dict(),
        }
        job = await self.ledger.insert(new, announce)
        self.runs.drive(job_id)
        return job

    @property
    def _throughput_file(self) -> str:
        return str(self.store.artifacts.throughput_file)

    async def control(self, job: JobRow, action: Control) -> JobRow:
        """Cancel or pause at the workers' next step, or queue a paused job again."""
        if action == "resume":
            job = await self.ledger.transition(job, S.QUEUED, reason="resumed")
            self.runs.drive(job.id)
            return job
        if job.status in (S.QUEUED, S.PAUSED):
            target = S.CANCELLED if action == "cancel" else S.PAUSED
            return await self.ledger.transition(job, target, reason=f"{action} requested")
        await self.runs.request_stop(job, action)
        await self.ledger.log(job.id, f"{action} requested")
        return job

    async def cluster_overview(self) -> dict[str, Any]:
        """The cluster for `!status`: nodes, CPUs/GPUs, its jobs, or why it is unreachable."""
        return await self.runs.overview()


def parse_resources(
    raw: dict[str, Any] | None, defaults: Resources, hp: Hyperparameters
) -> Resources:
    """Checked resources: workers ≥ 1 that split the batch, GPUs ≥ 0, CPUs > 0 per worker."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(RESOURCE_KEYS))
    if unknown:
        known = ", ".join(RESOURCE_KEYS)
        raise Invalid(f"unknown resource {unknown[0]!r}: use {known}")
    values = defaults.to_dict()
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Invalid(f"resources: {key} must be a number")
        try:
            values[key] = int(value) if key == "workers" else float(value)
        except ValueError:
            raise Invalid(f"resources: {key} must be a number, not {value!r}") from None
    resources = Resources(**values)
    if resources.workers < 1 or resources.workers > 256:
        raise Invalid("resources: workers must be between 1 and 256")
    if resources.gpus_per_worker < 0 or resources.cpus_per_worker <= 0:
        raise Invalid("resources: gpus_per_worker must be ≥ 0 and cpus_per_worker > 0")
    if hp.batch_size % resources.workers:
        raise Invalid(
            f"batch_size {hp.batch_size} is the global batch and must split evenly over "
            f"{resources.workers} workers"
        )
    return resources


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
