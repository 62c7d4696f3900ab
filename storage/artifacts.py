"""The folders under `data_dir` where datasets, models and checkpoints live."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifacts:
    """Paths of every artifact kind; creating them is the caller's business."""

    root: Path

    @property
    def database(self) -> Path:
        """The SQLite file."""
        return self.root / "trainbot.db"

    def dataset_dir(self, dataset_id: str) -> Path:
        """`datasets/<id>/`: the stored file and nothing else."""
        return self.root / "datasets" / dataset_id

    @property
    def models_root(self) -> Path:
        """`models/`: one folder per registered local model version."""
        return self.root / "models"

    def model_dir(self, model_id: str) -> Path:
        """`models/<id>/`: a standard Hugging Face model folder."""
        return self.models_root / model_id

    def job_dir(self, job_id: str) -> Path:
        """`jobs/<id>/`: the job's working folder."""
        return self.root / "jobs" / job_id

    def checkpoint_dir(self, job_id: str) -> Path:
        """`jobs/<id>/checkpoints/`."""
        return self.job_dir(job_id) / "checkpoints"

    def job_output_dir(self, job_id: str) -> Path:
        """`jobs/<id>/model/`: where a worker writes the finished model before registration."""
        return self.job_dir(job_id) / "model"

    @property
    def throughput_file(self) -> Path:
        """Measured training throughput per base model, for time estimates."""
        return self.root / "throughput.json"

    def ensure(self) -> None:
        """Create the top-level folders."""
        for sub in ("datasets", "models", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def remove(path: Path) -> None:
        """Delete an artifact folder if it exists."""
        shutil.rmtree(path, ignore_errors=True)
