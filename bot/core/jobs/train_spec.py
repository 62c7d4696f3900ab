"""The one place a `TrainSpec` is built: local jobs, Ray jobs and `trainbot train`.

The settings that shape every run (`[trainer]` device, precision, compile, report_to,
min_examples) come in as one `RunOptions`, so a new setting reaches every backend by
being added here, not at each caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from trainer.methods import Method
from trainer.spec import DataOptions, Hyperparameters, TrainSpec


@dataclass(frozen=True)
class RunOptions:
    """How every run trains, from `[trainer]` (the CLI takes the defaults)."""

    device: str = "auto"
    precision: str = "auto"  # "auto", "fp32", "bf16", "fp16"
    compile: bool = False
    report_to: str = "none"
    min_examples: int = 10


class TrainerSettings(Protocol):
    """The `[trainer]` values every run takes (`backends.local_runs.JobSettings`)."""

    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def compile(self) -> bool: ...
    @property
    def report_to(self) -> str: ...
    @property
    def min_examples(self) -> int: ...


def run_options(settings: TrainerSettings) -> RunOptions:
    """How every run trains, from the `[trainer]` settings."""
    return RunOptions(
        settings.device,
        settings.precision,
        settings.compile,
        settings.report_to,
        settings.min_examples,
    )


class StoredDataset(Protocol):
    """What a run needs of a stored dataset version (`storage.datasets.DatasetRow`)."""

    @property
    def path(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def report(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DatasetInput:
    """The dataset file a run reads and how to read it."""

    path: str
    format: str | None = None  # None: detected from the extension and content
    skip_invalid: bool = False
    sha256: str = ""

    @classmethod
    def of(cls, dataset: StoredDataset, path: str | None = None) -> DatasetInput:
        """From a stored dataset version (`path`: a copy of its file elsewhere)."""
        skip = bool(dataset.report.get("skip_invalid"))
        return cls(path or dataset.path, dataset.format, skip, dataset.sha256)


def build_train_spec(
    dataset: DatasetInput,
    *,
    output_dir: str,
    checkpoint_dir: str,
    base: str,
    hyperparameters: Hyperparameters,
    method: Method,
    options: RunOptions,
    job_id: str = "",
    resume: bool = False,
    device: str | None = None,
    validation_path: str = "",
) -> TrainSpec:
    """The spec of one run (`device`: this run's own, e.g. a Ray job's GPU workers;
    `validation_path`: a dataset file to validate on instead of a held-out share)."""
    return TrainSpec(
        dataset_path=dataset.path,
        output_dir=output_dir,
        checkpoint_dir=checkpoint_dir,
        base=base,
        hyperparameters=hyperparameters,
        data=DataOptions(
            format=dataset.format,
            skip_invalid=dataset.skip_invalid,
            min_examples=options.min_examples,
        ),
        resume=resume,
        report_to=options.report_to,
        job_id=job_id,
        dataset_hash=dataset.sha256,
        device=device or options.device,
        precision=options.precision,
        compile=options.compile,
        method=method,
        validation_path=validation_path,
    )


def estimate_seconds(
    stats: dict[str, Any], spec: TrainSpec, throughput_file: str | None
) -> float | None:
    """Expected wall time of the run, from what was measured on this machine: the base's
    own speed once a run of it was measured, else a folder base's size scaled from the
    reference preset's speed (None when the dataset's size is unknown)."""
    from bot.core.jobs.bases import REFERENCE_PRESET, folder_tokens_per_s
    from trainer import throughput

    hp = spec.hyperparameters
    if hp.max_steps > 0:
        tokens = hp.max_steps * hp.batch_size * hp.grad_accum * hp.block_size
    elif stats.get("train_tokens"):
        tokens = int(stats["train_tokens"] * hp.epochs)
    else:
        return None
    speed = None
    if not throughput.measured_here(spec.base, throughput_file):
        reference = throughput.tokens_per_second(REFERENCE_PRESET, throughput_file)
        speed = folder_tokens_per_s(spec.base, spec.method.type, reference)
    if speed is None:
        return throughput.estimate_seconds(tokens, spec.base, throughput_file)
    return throughput.overhead_seconds(spec.base, throughput_file) + tokens / speed
