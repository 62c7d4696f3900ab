"""Repositories: typed rows in and out of real SQLite files."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.types import JobStatus
from storage.datasets import DatasetRow
from storage.jobs import JobRow
from storage.registry import ModelRow
from storage.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "data")
    yield opened
    await opened.close()


def job(job_id: str, status: str = "queued") -> JobRow:
    now = time.time()
    return JobRow(
        id=job_id,
        name="poems",
        status=JobStatus(status),
        backend="local",
        dataset_id="ds1",
        base="tiny",
        spec={"epochs": 1},
        requested_by="@ann:example.org",
        room_id="!r:example.org",
        result=None,
        error=None,
        model_id=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
        remote_id=None,
    )


def model(model_id: str, version: int, active: bool = False) -> ModelRow:
    return ModelRow(
        id=model_id,
        name="poems",
        version=version,
        backend="local",
        path="/m",
        remote_id=None,
        job_id="j",
        dataset_id="d",
        base="tiny",
        metrics={"eval_loss": 1.5},
        size_bytes=10,
        active=active,
        created_at=time.time(),
    )


async def test_jobs_round_trip_and_fifo_order(store: Store) -> None:
    for job_id in ("aaa1", "bbb2", "ccc3"):
        await store.jobs.insert(job(job_id))
    await store.jobs.update("bbb2", status="running", result={"steps": 5})
    queued = await store.jobs.with_status("queued")
    got = await store.jobs.get("bbb2")
    assert ["aaa1", "ccc3"] == [j.id for j in queued]
    assert got is not None and ("running", {"steps": 5}) == (got.status, got.result)
    assert {"queued": 2, "running": 1} == await store.jobs.count_by_status()
    assert ["ccc3", "bbb2", "aaa1"] == [j.id for j in await store.jobs.find()]
    assert ["aaa1"] == [j.id for j in await store.jobs.find(after="bbb2")]
    assert ["bbb2"] == await store.jobs.ids_with_prefix("bb")


async def test_events_are_numbered_per_job_even_when_appended_concurrently(store: Store) -> None:
    await store.jobs.insert(job("j1"))
    await asyncio.gather(*(store.events.append("j1", "progress", {"step": i}) for i in range(20)))
    events = await store.events.find("j1")
    assert list(range(1, 21)) == [e.seq for e in events]
    assert [e.seq for e in events[5:]] == [e.seq for e in await store.events.find("j1", after=5)]
    await store.jobs.delete("j1")
    assert [] == await store.events.find("j1")


async def test_one_active_model_version_per_name(store: Store) -> None:
    await store.models.insert(model("m1", 1, active=True))
    assert 2 == await store.models.next_version("poems")
    second = model("m2", 2)
    await store.models.insert(second)
    await store.models.activate(second)
    assert ["m2"] == [m.id for m in await store.models.active("poems")]
    found = await store.models.get_version("poems", 1)
    assert found is not None and ("poems@v1", False) == (found.label, found.active)


async def test_datasets_are_versioned(store: Store) -> None:
    for version in (1, 2):
        await store.datasets.insert(
            DatasetRow(
                id=f"d{version}",
                name="jokes",
                version=version,
                format="text",
                path="/d",
                sha256="x",
                examples=12,
                report={"ok": True},
                stats={},
                created_by="@a:b",
                room_id=None,
                created_at=time.time(),
            )
        )
    latest = await store.datasets.latest("jokes")
    assert latest is not None and "jokes@v2" == latest.label
    assert 3 == await store.datasets.next_version("jokes")


async def test_state_predictions_and_idempotency(store: Store) -> None:
    await store.state.set("matrix.sync_token", "s1")
    await store.state.set("matrix.sync_token", "s2")
    assert "s2" == await store.state.get("matrix.sync_token")
    saved = await store.predictions.add(
        model_id="m1",
        prompt="Once",
        params={"temperature": 0.7},
        output=" upon",
        prompt_tokens=1,
        completion_tokens=1,
        latency_s=0.1,
        requested_by="@a:b",
    )
    assert [saved] == await store.predictions.find(model_id="m1")
    await store.idempotency.put("client", "key-1", "hash", "job9")
    record = await store.idempotency.get("client", "key-1")
    assert record is not None and "job9" == record.job_id
    assert None is await store.idempotency.get("other-client", "key-1")


async def test_overview_reads_counts_running_progress_and_active_models(store: Store) -> None:
    from storage.overview import read_overview

    await store.jobs.insert(job("run1", status="running"))
    await store.jobs.insert(job("que1"))
    await store.events.append("run1", "progress", {"step": 1, "loss": 3.0})
    await store.events.append("run1", "eval", {"step": 1, "eval_loss": 2.0})
    await store.events.append("run1", "progress", {"step": 2, "loss": 2.5})
    await store.models.insert(model("m1", 1, active=True))
    await store.models.insert(model("m2", 2))
    found = await read_overview(store.db)
    assert {"running": 1, "queued": 1} == found.counts
    assert [
        {"id": "run1", "name": "poems", "status": "running", "progress": {"step": 2, "loss": 2.5}}
    ] == found.running
    assert [("m1", "poems@v1", {"eval_loss": 1.5})] == [
        (m["id"], m["label"], m["metrics"]) for m in found.active
    ]
