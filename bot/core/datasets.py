"""Datasets: upload (file or records), validate, store versioned, statistics, delete."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.core.errors import Conflict, Invalid, NotFound
from bot.core.naming import check_name, parse_ref, pick_prefix
from bot.core.types import ACTIVE
from storage.datasets import DatasetRow
from storage.ids import new_id
from storage.store import Store
from trainer.data import DatasetReport, compute_stats, read_dataset
from trainer.spec import DATASET_FORMATS, DataOptions, Hyperparameters

EXTENSIONS = {".jsonl", ".json", ".csv", ".txt"}


@dataclass(frozen=True)
class Upload:
    """A stored dataset version with its validation report."""

    dataset: DatasetRow
    report: dict[str, Any]
    summary: str


class DatasetService:
    """Every dataset operation of both faces (chat and HTTP)."""

    def __init__(self, store: Store, min_examples: int, default_base: str) -> None:
        self.store = store
        self.min_examples = min_examples
        self.default_base = default_base

    async def upload_file(
        self,
        name: str,
        filename: str,
        data: bytes,
        *,
        format: str | None = None,
        skip_invalid: bool = False,
        created_by: str = "",
        room_id: str | None = None,
    ) -> Upload:
        """Validate and store a file as the next version of `name`; refused when invalid."""
        check_name(name, "dataset")
        suffix = Path(filename).suffix.lower()
        if suffix not in EXTENSIONS:
            suffix = ".jsonl"
        return await self._store(name, suffix, data, format, skip_invalid, created_by, room_id)

    async def upload_records(
        self,
        name: str,
        records: list[Any],
        *,
        format: str | None = None,
        skip_invalid: bool = False,
        created_by: str = "",
        room_id: str | None = None,
    ) -> Upload:
        """Store records sent as JSON (one per JSONL line), like a file upload."""
        check_name(name, "dataset")
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return await self._store(
            name, ".jsonl", lines.encode(), format, skip_invalid, created_by, room_id
        )

    async def _store(
        self,
        name: str,
        suffix: str,
        data: bytes,
        format: str | None,
        skip_invalid: bool,
        created_by: str,
        room_id: str | None,
    ) -> Upload:
        if format is not None and format not in DATASET_FORMATS:
            raise Invalid(f"unknown format {format!r}: use one of {', '.join(DATASET_FORMATS)}")
        dataset_id = new_id()
        folder = self.store.artifacts.dataset_dir(dataset_id)
        folder.mkdir(parents=True)
        path = folder / f"data{suffix}"
        path.write_bytes(data)
        options = DataOptions(
            format=format, skip_invalid=skip_invalid, min_examples=self.min_examples
        )
        try:
            report, stats = await asyncio.to_thread(self._validate, path, options)
        except BaseException:
            self.store.artifacts.remove(folder)
            raise
        if not report.ok:
            self.store.artifacts.remove(folder)
            # The summary names the stored file; people see the dataset name instead.
            summary = report.summary().replace(str(path), name, 1)
            raise Invalid(summary, details=_report_dict(report, name))
        row = DatasetRow(
            id=dataset_id,
            name=name,
            version=0,  # allocated under the catalog lock
            format=report.format,
            path=str(path),
            sha256=report.sha256,
            examples=len(report.examples),
            report=_report_dict(report, name),
            stats=stats,
            created_by=created_by,
            room_id=room_id,
            created_at=time.time(),
        )
        try:
            async with self.store.catalog:
                # Number and row in one step: concurrent uploads of one name get
                # consecutive versions instead of one UNIQUE failure each.
                row = replace(row, version=await self.store.datasets.next_version(name))
                await self.store.datasets.insert(row)
        except BaseException:
            self.store.artifacts.remove(folder)  # no folder without its row
            raise
        return Upload(row, row.report, report.summary().replace(str(path), row.label, 1))

    def _validate(self, path: Path, options: DataOptions) -> tuple[DatasetReport, dict[str, Any]]:
        # Runs in a thread: parsing and tokenizer training are CPU work.
        hp = Hyperparameters()
        report = read_dataset(path, options, block_size=hp.block_size)
        if not report.ok:
            return report, {}
        return report, self._stats(report, hp)

    def _stats(self, report: DatasetReport, hp: Hyperparameters) -> dict[str, Any]:
        from trainer.throughput import tokens_per_second
        from trainer.tokenizer import load_tokenizer_file, train_bpe_tokenizer

        base = self.default_base
        if Path(base).is_absolute() and Path(base).is_dir():  # never relative to the cwd
            tokenizer = load_tokenizer_file(base)
        else:
            tokenizer = train_bpe_tokenizer(
                (text for example in report.examples for text, _ in example.segments)
            )
        speed = tokens_per_second(base, self.store.artifacts.throughput_file)
        stats = compute_stats(
            report, tokenizer, hp.block_size, hp.epochs, hp.val_fraction, speed, hp.seed
        )
        return {**stats.to_dict(), "base": base, "text": stats.format_text()}

    async def resolve(self, ref: str) -> DatasetRow:
        """A dataset by id, id prefix, `name` (newest version) or `name@vN`."""
        found = await self.store.datasets.get(ref)
        if found:
            return found
        parsed = parse_ref(ref)
        if parsed.version is not None:
            found = await self.store.datasets.get_version(parsed.name, parsed.version)
        else:
            found = await self.store.datasets.latest(parsed.name)
        if found:
            return found
        prefix = pick_prefix("dataset", ref, await self.store.datasets.ids_with_prefix(ref))
        if prefix:
            found = await self.store.datasets.get(prefix)
        if not found:
            raise NotFound(f"no dataset {ref!r}; `!datasets` or GET /v1/datasets lists them")
        return found

    async def versions(self, name: str | None = None) -> list[DatasetRow]:
        """Every version (of one name), newest first."""
        return await self.store.datasets.find(name)

    async def delete(self, ref: str) -> DatasetRow:
        """Remove a version; refused while a queued, running or paused job trains or
        validates on it."""
        async with self.store.catalog:
            # Under the lock a job submitted for this dataset is either stored already
            # (and refuses the delete) or resolves after it (and finds no dataset).
            dataset = await self.resolve(ref)
            users = [
                job.id
                for job in await self.store.jobs.with_status(*ACTIVE)
                if dataset.id in (job.dataset_id, job.validation_dataset_id)
            ]
            if users:
                raise Conflict(
                    f"dataset {dataset.label} is used by job {', '.join(users)}; "
                    "cancel or finish it first"
                )
            await self.store.datasets.delete(dataset.id)
        self.store.artifacts.remove(self.store.artifacts.dataset_dir(dataset.id))
        return dataset


def _report_dict(report: DatasetReport, name: str) -> dict[str, Any]:
    result = report.to_dict()
    result["path"] = name  # the server's file layout is nobody's business
    result["skip_invalid"] = report.skip_invalid
    return result
