"""What the Ray backend refuses before anything is stored, and the pure parts of its workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.core.errors import Invalid
from bot.core.jobs.backends.ray import parse_resources
from bot.core.jobs.backends.ray_setup import NO_RAY
from bot.core.jobs.request import JobRequest
from tests.support.services import make_settings, records
from trainer.distributed.loop import scale_tokens, worker_spec
from trainer.distributed.resources import Resources
from trainer.spec import Hyperparameters, TrainSpec

DEFAULTS = Resources(workers=1, gpus_per_worker=0.0, cpus_per_worker=1.0)


def test_resources_fill_in_the_defaults_and_take_numbers_as_typed() -> None:
    hp = Hyperparameters(batch_size=8)
    assert Resources(2, 1.0, 4.0) == parse_resources(
        {"workers": "2", "gpus_per_worker": 1, "cpus_per_worker": "4"}, DEFAULTS, hp
    )
    assert DEFAULTS == parse_resources(None, DEFAULTS, hp)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nodes": 2}, "unknown resource 'nodes': use workers, gpus_per_worker, cpus_per_worker"),
        ({"workers": "two"}, "resources: workers must be a number, not 'two'"),
        ({"workers": 0}, "resources: workers must be between 1 and 256"),
        ({"cpus_per_worker": 0}, "gpus_per_worker must be ≥ 0 and cpus_per_worker > 0"),
        ({"workers": 3}, "batch_size 8 is the global batch and must split evenly over 3 workers"),
        ({"workers": True}, "resources: workers must be a number"),
    ],
)
def test_resources_are_refused_in_words(raw: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_resources(raw, DEFAULTS, Hyperparameters(batch_size=8))
    assert message in str(refused.value)


async def test_ray_unconfigured_refuses_and_stores_nothing(tmp_path: Path) -> None:
    # trainer.default_backend applies to requests that name no backend.
    app = App(make_settings(tmp_path / "data", default_backend="ray"))
    await app.start()
    try:
        await app.services.datasets.upload_records("poems", records())
        for request in (JobRequest("poems", backend="ray"), JobRequest("poems")):
            with pytest.raises(Invalid) as refused:
                await app.services.jobs.submit(request, requested_by="a")
            assert NO_RAY == str(refused.value)
        assert {} == await app.services.store.jobs.count_by_status()
    finally:
        await app.stop()


def test_each_rank_trains_its_share_of_the_global_batch(tmp_path: Path) -> None:
    spec = TrainSpec(
        dataset_path="d.jsonl",
        output_dir=str(tmp_path / "model"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        hyperparameters=Hyperparameters(batch_size=8),
    )
    first = worker_spec(spec, rank=0, world=2)
    assert (4, False, spec.output_dir) == (
        first.hyperparameters.batch_size,
        first.resume,
        first.output_dir,
    )
    (tmp_path / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    second = worker_spec(spec, rank=1, world=2)
    assert second.resume and second.output_dir != spec.output_dir  # rank 0 writes the model
    with pytest.raises(ValueError, match="batch_size 8 does not split over 3 workers"):
        worker_spec(spec, rank=0, world=3)


def test_rank_zero_reports_the_tokens_of_the_whole_group() -> None:
    event = scale_tokens(
        {
            "event": "completed",
            "model_dir": "m",
            "metrics": {"tokens_per_s": 100.0, "tokens_seen": 640, "eval_loss": 2.0},
            "base": "micro",
            "device": "cpu",
        },
        world=2,
    )
    expected = {"tokens_per_s": 200.0, "tokens_seen": 1280, "eval_loss": 2.0}
    assert expected == event["metrics"]  # type: ignore[typeddict-item]
