"""Datasets: validated before storing, versioned, resolvable, and refused cleanly."""

import asyncio
from collections import Counter

import pytest

from bot.core.errors import Conflict, Invalid, NotFound
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from storage.jobs import JobRow
from tests.support.services import FAST, is_final_state, records, wait_for


async def test_upload_validates_stores_and_counts_tokens(services: Services) -> None:
    upload = await services.datasets.upload_records("poems", records(), created_by="@ann:x")
    ds = upload.dataset
    assert ("poems", 1, "text", 40) == (ds.name, ds.version, ds.format, ds.examples)
    assert 40 == ds.stats["examples"] and ds.stats["total_tokens"] > 40
    assert upload.summary.startswith("poems@v1 (text): 40 rows, 40 valid examples — ok")
    assert "/" not in ds.report["path"]  # no server paths leak to users


async def test_every_upload_is_a_new_version(services: Services) -> None:
    first = (await services.datasets.upload_records("poems", records())).dataset
    second = (await services.datasets.upload_file("poems", "p.txt", b"a b\n\n" * 12)).dataset
    assert (1, 2, "text") == (first.version, second.version, second.format)
    assert second.id == (await services.datasets.resolve("poems")).id
    assert first.id == (await services.datasets.resolve("poems@v1")).id
    assert first.id == (await services.datasets.resolve(first.id[:4])).id


async def test_invalid_dataset_is_refused_with_row_errors_and_nothing_stored(
    services: Services,
) -> None:
    await services.datasets.upload_records("keep", records())
    before = await services.datasets.versions()
    bad = b'{"text": "fine"}\n{"text": ""}\nnot json\n' + b'{"text": "ok"}\n' * 10
    with pytest.raises(Invalid) as info:
        await services.datasets.upload_file("broken", "b.jsonl", bad)
    assert "line 2:" in info.value.message and "line 3:" in info.value.message
    assert [2, 3] == [e["line"] for e in info.value.details["errors"]]
    assert before == await services.datasets.versions()
    folders = list((services.store.artifacts.root / "datasets").iterdir())
    assert [before[0].id] == [f.name for f in folders]


async def test_skip_invalid_stores_the_valid_rows(services: Services) -> None:
    bad = b'{"text": ""}\n' + b'{"text": "ok then"}\n' * 12
    upload = await services.datasets.upload_file("lenient", "l.jsonl", bad, skip_invalid=True)
    assert (12, 1) == (upload.dataset.examples, upload.report["skipped"])


async def test_bad_names_and_formats_are_refused(services: Services) -> None:
    with pytest.raises(Invalid, match=r"dataset name '\.\./etc' is not allowed"):
        await services.datasets.upload_records("../etc", records())
    with pytest.raises(Invalid, match="unknown format 'yaml'"):
        await services.datasets.upload_records("x", records(), format="yaml")
    with pytest.raises(NotFound, match="no dataset 'nope'"):
        await services.datasets.resolve("nope")


async def test_delete_is_refused_while_a_job_uses_it(services: Services) -> None:
    ds = (await services.datasets.upload_records("busy", records())).dataset
    request = JobRequest(dataset="busy", hyperparameters=FAST)
    job = await services.jobs.submit(request, requested_by="@ann:x")
    with pytest.raises(Conflict, match=f"dataset busy@v1 is used by job {job.id}"):
        await services.datasets.delete("busy")
    await services.jobs.cancel(job.id)
    await wait_for(services, job.id, is_final_state)
    await services.datasets.delete(ds.id)
    assert [] == await services.datasets.versions()
    assert not (services.store.artifacts.dataset_dir(ds.id)).exists()


async def test_a_job_holds_the_validation_version_it_was_given(services: Services) -> None:
    await services.datasets.upload_records("train", records())
    held = (await services.datasets.upload_records("held", records(12, seed=3))).dataset
    request = JobRequest(dataset="train", validation_dataset="held", hyperparameters=FAST)
    job = await services.jobs.submit(request, requested_by="@ann:x")
    with pytest.raises(Conflict, match=f"dataset held@v1 is used by job {job.id}; cancel"):
        await services.datasets.delete("held")
    # A newer version of the name changes nothing the job uses, and is not held.
    newer = (await services.datasets.upload_records("held", records(12, seed=4))).dataset
    stored = await services.store.jobs.get(job.id)
    assert stored is not None
    assert (held.id, held.path) == (stored.validation_dataset_id, stored.spec["validation_path"])
    await services.datasets.delete(newer.id)
    await services.jobs.cancel(job.id)
    await wait_for(services, job.id, is_final_state)
    await services.datasets.delete(held.id)
    assert ["train"] == [d.name for d in await services.datasets.versions()]


async def test_deleting_a_validation_dataset_while_a_job_is_submitted_on_it(
    services: Services,
) -> None:
    await services.datasets.upload_records("train", records())
    outcomes: Counter[tuple[str, str]] = Counter()
    jobs = []
    for round in range(6):
        held = (await services.datasets.upload_records(f"held{round}", records(12))).dataset
        request = JobRequest(dataset="train", validation_dataset=held.id, hyperparameters=FAST)
        delete = services.datasets.delete(held.id)
        submit = services.jobs.submit(request, requested_by="@ann:x")
        # Each goes first in turn: both orders of the catalog lock are exercised.
        pair = (delete, submit) if round % 2 else (submit, delete)
        done = await asyncio.gather(*pair, return_exceptions=True)
        deleted, submitted = done if round % 2 else done[::-1]
        outcomes[(type(deleted).__name__, type(submitted).__name__)] += 1
        # The job exists only if its validation dataset still does.
        still_there = await services.store.datasets.get(held.id)
        assert isinstance(submitted, JobRow) == (still_there is not None), (deleted, submitted)
        if isinstance(submitted, JobRow):
            jobs.append(submitted.id)
    # Either order is fine; a half-done mix (both done, or another error) is not.
    assert {("DatasetRow", "NotFound"), ("Conflict", "JobRow")} == set(outcomes), outcomes
    for job_id in jobs:
        await services.jobs.cancel(job_id)
        await wait_for(services, job_id, is_final_state)
