"""`base=` names a preset, a registered model or a folder under `trainer.base_dirs`, or else
one and the same refusal, whatever exists on the server; names are matched in full."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import Invalid
from bot.core.jobs.bases import BaseRules, resolve_base
from bot.core.jobs.request import JobRequest
from bot.core.naming import check_name
from bot.core.services import Services
from tests.support.services import FAST, records

ONLY_REGISTRY = (
    "base {!r} is not available: use a preset (tiny, small) or a registered model (`!models`)"
)
WITH_DIRS = (
    "base {!r} is not available: use a preset (tiny, small), a registered model (`!models`) "
    "or a model folder under trainer.base_dirs"
)


def model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


async def refusals(services: Services, bases: list[str]) -> list[str]:
    """What a chat request and an HTTP request for each base are answered."""
    answers = []
    for base in bases:
        for who, room in (("@ann:x", "!r:x"), ("api:0123", None)):
            request = JobRequest("poems", base=base, hyperparameters=FAST)
            with pytest.raises(Invalid) as refused:
                await services.jobs.submit(request, requested_by=who, room_id=room)
            answers.append(refused.value.message)
    return answers


async def test_every_base_outside_the_allowed_places_gets_the_same_answer(
    app_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_folder(tmp_path / "outside")
    monkeypatch.chdir(tmp_path)  # a relative path must not be found from here
    services: Services = (await app_factory()).services
    await services.datasets.upload_records("poems", records())
    data = services.store.artifacts.root
    model_folder(data / "models" / "stray")  # a folder the registry does not know
    bases = [
        "/etc",
        "/nonexistent",
        str(tmp_path / "outside"),
        "outside",
        "./outside",
        "../outside",
        "~",
        str(data),
        str(data / "datasets"),
        str(data / "models" / "stray"),
        "stray",
        "/etc/../etc",
        "gpt2",
        "openai-community/gpt2",
    ]
    expected = [ONLY_REGISTRY.format(base) for base in bases for _ in range(2)]
    assert expected == await refusals(services, bases)
    assert [] == await services.jobs.find()


async def test_presets_registered_models_and_folders_under_base_dirs_are_bases(
    app_factory: Callable[..., Any], tmp_path: Path
) -> None:
    allowed = model_folder(tmp_path / "bases" / "mine")
    outside = model_folder(tmp_path / "outside")
    (tmp_path / "bases" / "link").symlink_to(outside)
    app = await app_factory(base_dirs=[str(tmp_path / "bases")], max_concurrent_jobs=1)
    services: Services = app.services
    await services.datasets.upload_records("poems", records())
    model = await services.models.register_local(
        name="prior",
        job_id="",
        dataset_id="",
        base="tiny",
        output_dir=model_folder(tmp_path / "out"),
        metrics={},
    )
    accepted = []
    for base in ("tiny", "mine", str(allowed), model.id, "prior@v1", model.path):
        job = await services.jobs.submit(
            JobRequest("poems", base=base, hyperparameters=FAST), requested_by="@ann:x"
        )
        accepted.append((job.base, job.spec["base"]))
        await services.jobs.cancel(job.id)
    mine = str(allowed.resolve())
    registered = (model.id, model.path)
    assert [("tiny", "tiny"), ("mine", mine), (str(allowed), mine), *[registered] * 3] == accepted

    refused = ["link", "mine/../../outside", str(outside), "/etc"]
    assert [WITH_DIRS.format(base) for base in refused for _ in range(2)] == await refusals(
        services, refused
    )


async def test_hub_ids_only_when_allowed(services: Services) -> None:
    store_models = services.models
    rules = BaseRules(services.store.artifacts.models_root, allow_hub=True)
    assert ("org/model", "org/model") == await resolve_base("org/model", store_models, rules)
    for base in ("/etc", "../org/model", "./gpt2", "org/../x"):
        with pytest.raises(Invalid) as refused:
            await resolve_base(base, store_models, rules)
        assert (
            f"base {base!r} is not available: use a preset (tiny, small), "
            "a registered model (`!models`) or a Hugging Face hub id"
        ) == refused.value.message
    closed = BaseRules(services.store.artifacts.models_root)
    with pytest.raises(Invalid, match="is not available"):
        await resolve_base("org/model", store_models, closed)


async def test_a_name_is_matched_in_full(services: Services) -> None:
    assert "abc" == check_name("abc", "dataset")
    for name in ("abc\n", "abc\r\n", "a\nb", " abc", "abc/x"):
        with pytest.raises(Invalid, match="is not allowed"):
            check_name(name, "model")
    with pytest.raises(Invalid, match="dataset name 'abc\\\\n' is not allowed"):
        await services.datasets.upload_records("abc\n", records())
    await services.datasets.upload_records("poems", records())
    with pytest.raises(Invalid, match="model name 'x\\\\n' is not allowed"):
        await services.jobs.submit(JobRequest("poems", name="x\n"), requested_by="a")
    assert [] == [d.name for d in await services.datasets.versions() if d.name != "poems"]
