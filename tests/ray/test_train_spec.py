"""One TrainSpec builder for every backend: the `[trainer]` run settings reach each run,
Ray jobs get the up-front memory refusal, and a folder base's estimate scales with it.

No Ray cluster is needed: a Ray job is refused, or stored as queued, before any run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App, _job_settings
from bot.core.errors import Invalid
from bot.core.jobs.backends.ray_jobs import train_spec
from bot.core.jobs.bases import REFERENCE_PARAMETERS, REFERENCE_PRESET, base_shape
from bot.core.jobs.request import JobRequest
from bot.core.jobs.train_spec import DatasetInput, build_train_spec, estimate_seconds, run_options
from bot.settings import Settings, SettingsError, load_settings
from tests.ray.conftest import free_port
from tests.support.pretrained import build_base
from tests.support.services import FAST, records
from trainer import throughput
from trainer.methods import parse_method
from trainer.spec import Hyperparameters, TrainSpec


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'precision = "fp8"',
            "trainer.precision: Input should be 'auto', 'fp32', 'bf16' or 'fp16' (got 'fp8')",
        ),
        (
            'device = "cpu"\nprecision = "fp16"',
            'trainer.precision: Value error, "fp16" needs a CUDA GPU; with trainer.device "cpu" '
            "use bf16 or fp32 (got 'fp16')",
        ),
        ('compile = "maybe"', "trainer.compile: Input should be a valid boolean"),
    ],
)
def test_bad_precision_or_compile_is_refused_at_load(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "trainbot.toml"
    path.write_text(f"[trainer]\n{toml}\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert message in str(refused.value)


def test_the_run_settings_reach_the_spec_through_the_one_builder() -> None:
    settings = Settings(trainer={"precision": "bf16", "compile": True, "report_to": "tensorboard"})
    spec = build_train_spec(
        DatasetInput("d.jsonl", "text", skip_invalid=True, sha256="abc"),
        output_dir="out",
        checkpoint_dir="ckpt",
        base="micro",
        hyperparameters=Hyperparameters(max_steps=3),
        method=parse_method(None),
        options=run_options(_job_settings(settings)),
        job_id="j1",
    )
    expected = ("bf16", True, "tensorboard", "auto", "text", True, "abc", "j1")
    assert expected == (
        spec.precision,
        spec.compile,
        spec.report_to,
        spec.device,
        spec.data.format,
        spec.data.skip_invalid,
        spec.dataset_hash,
        spec.job_id,
    )


async def test_a_ray_job_too_big_for_memory_is_refused_and_one_that_fits_keeps_the_settings(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pretrained = build_base(tmp_path_factory.getbasetemp(), "gpt2")
    settings = Settings(
        storage={"data_dir": str(tmp_path / "data")},
        http={"enabled": False},
        matrix={"enabled": False},
        trainer={
            "default_base": "micro",
            "max_memory_gb": 1 / 1024,  # 1 MiB: below what the tiny pretrained base needs
            "base_dirs": [str(pretrained.parent)],
            "precision": "bf16",
            "compile": True,
        },
        # Nothing listens there: a job that is accepted waits in the queue.
        ray={"address": f"127.0.0.1:{free_port()}", "storage_path": str(tmp_path / "shared")},
    )
    app = App(settings)
    await app.start()
    try:
        services = app.services
        await services.datasets.upload_records("poems", records())
        big = JobRequest("poems", base=str(pretrained), hyperparameters=FAST, backend="ray")
        with pytest.raises(Invalid) as refused:
            await services.jobs.submit(big, requested_by="@ann:x", room_id=None)
        message = refused.value.message
        assert message.startswith("this job would need about "), message
        assert [] == await services.jobs.find()  # nothing queued, nothing stored
        assert not (tmp_path / "shared").exists()  # nor copied to the cluster's storage

        fits = JobRequest("poems", hyperparameters=FAST, backend="ray")
        job = await services.jobs.submit(fits, requested_by="@ann:x", room_id=None)
        spec = TrainSpec.from_dict(train_spec(job))  # the stored spec less its Ray part
        assert ("bf16", True, "cpu") == (spec.precision, spec.compile, spec.device)
    finally:
        await app.stop()


def test_a_folder_base_is_estimated_from_the_preset_speed_scaled_by_its_size(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pretrained = build_base(tmp_path_factory.getbasetemp(), "gpt2")
    measured = str(tmp_path / "throughput.json")
    throughput.record_throughput(measured, REFERENCE_PRESET, "cpu", 3000.0)
    hp = Hyperparameters(max_steps=100, batch_size=4, block_size=64)
    tokens = 100 * 4 * 64

    def estimate(method: str, base: str = str(pretrained)) -> float:
        spec = build_train_spec(
            DatasetInput("d.jsonl"),
            output_dir="out",
            checkpoint_dir="ckpt",
            base=base,
            hyperparameters=hp,
            method=parse_method({"type": method}),
            options=run_options(_job_settings(Settings())),
        )
        found = estimate_seconds({}, spec, measured)
        assert found is not None
        return found - throughput.overhead_seconds(base, measured)

    shape = base_shape(pretrained)
    assert shape is not None
    # Full training: the preset's tokens/s times the preset's size over the base's.
    full = tokens * shape.parameters / (3000.0 * REFERENCE_PARAMETERS)
    assert estimate("full") == pytest.approx(full)
    assert estimate("lora") == pytest.approx(full * 4 / 6)  # no gradients of frozen weights
    # Once a run of the base itself was measured here, its own speed counts.
    throughput.record_throughput(measured, str(pretrained), "cpu", 500.0)
    assert estimate("full") == pytest.approx(tokens / 500.0)
